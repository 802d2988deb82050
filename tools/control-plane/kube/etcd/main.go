// Command etcd is a single-member etcd for the local control plane, on etcd's own embed package
// (the server kube-apiserver v1.36 is tested against, pinned by ../go.mod).
//
//	etcd --data-dir DIR --listen-client-url http://127.0.0.1:PORT --listen-peer-url http://127.0.0.1:PORT
//
// It serves until SIGINT or SIGTERM, then closes the member cleanly.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dataDir := flag.String("data-dir", "", "where the member keeps its data")
	clientURL := flag.String("listen-client-url", "", "client URL, e.g. http://127.0.0.1:2379")
	peerURL := flag.String("listen-peer-url", "", "peer URL, e.g. http://127.0.0.1:2380")
	flag.Parse()
	if *dataDir == "" || *clientURL == "" || *peerURL == "" {
		fail("usage: etcd --data-dir DIR --listen-client-url URL --listen-peer-url URL")
	}
	client, err := url.Parse(*clientURL)
	if err != nil {
		fail(err.Error())
	}
	peer, err := url.Parse(*peerURL)
	if err != nil {
		fail(err.Error())
	}

	cfg := embed.NewConfig()
	cfg.Name = "control-plane"
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	// A local, single-member store: no fsync per write (the data is scratch, rebuilt on every start).
	cfg.UnsafeNoFsync = true

	server, err := embed.StartEtcd(cfg)
	if err != nil {
		fail(err.Error())
	}
	select {
	case <-server.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcd ready on %s\n", client.String())
	case <-time.After(60 * time.Second):
		server.Close()
		fail("etcd did not become ready in 60 s")
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-signals:
	case err := <-server.Err():
		server.Close()
		fail(err.Error())
	}
	server.Close()
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(1)
}
