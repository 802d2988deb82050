// Command certs writes the keys and certificates a local control plane needs, the way
// controller-runtime's envtest generates them: one CA, one serving certificate for every local
// server (kube-apiserver, KEDA's webhooks, metrics adapter and gRPC server), the aggregation
// layer's front-proxy CA and client, and the service-account signing key.
//
//	certs DIR NAME...   serving certificate SANs: 127.0.0.1, localhost and each NAME (DNS)
//
// Files (PEM): ca.crt ca.key tls.crt tls.key front-proxy-ca.crt front-proxy-client.crt
// front-proxy-client.key sa.key sa.pub. Existing files are kept (a restart reuses them).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: certs DIR [DNS-NAME...]")
	}
	dir := os.Args[1]
	if _, err := os.Stat(filepath.Join(dir, "sa.pub")); err == nil {
		return
	}
	must(os.MkdirAll(dir, 0o700))

	ca := authority("task-events local CA")
	serving := leaf(ca, "task-events local server", append([]string{"localhost"}, os.Args[2:]...), x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	frontProxyCA := authority("task-events front-proxy CA")
	frontProxyClient := leaf(frontProxyCA, "front-proxy-client", nil, x509.ExtKeyUsageClientAuth)

	write(dir, "ca", ca)
	write(dir, "tls", serving)
	write(dir, "front-proxy-ca", frontProxyCA)
	write(dir, "front-proxy-client", frontProxyClient)

	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	saPub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	must(err)
	writePEM(filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa))
	writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", saPub)
}

func authority(name string) pair {
	key := newKey()
	template := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	must(err)
	cert, err := x509.ParseCertificate(der)
	must(err)
	return pair{cert, key}
}

func leaf(ca pair, name string, dnsNames []string, usages ...x509.ExtKeyUsage) pair {
	key := newKey()
	template := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usages,
		DNSNames:     dnsNames,
	}
	if dnsNames != nil {
		template.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	must(err)
	cert, err := x509.ParseCertificate(der)
	must(err)
	return pair{cert, key}
}

func write(dir, name string, p pair) {
	key, err := x509.MarshalECPrivateKey(p.key)
	must(err)
	writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", p.cert.Raw)
	writePEM(filepath.Join(dir, name+".key"), "EC PRIVATE KEY", key)
}

func writePEM(path, kind string, der []byte) {
	must(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
}

func newKey() *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	return key
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	must(err)
	return n
}

func must(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(1)
}
