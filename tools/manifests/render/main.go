// Command render turns Kubernetes YAML into JSON for the manifest validator.
//
//	render build <kustomization dir>   kustomize build (the engine of kustomize v5 and kubectl -k), as a JSON array
//	render yaml <file>...              every YAML document of the files, as one JSON array
//
// Only the standard library and kustomize's own modules: no cluster, no network.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: render build <dir> | render yaml <file>...")
	}
	var out []json.RawMessage
	var err error
	switch os.Args[1] {
	case "build":
		out, err = build(os.Args[2])
	case "yaml":
		out, err = documents(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
	if out == nil {
		out = []json.RawMessage{}
	}
	encoded, err := json.Marshal(out)
	if err != nil {
		fail(err.Error())
	}
	os.Stdout.Write(encoded)
}

func build(dir string) ([]json.RawMessage, error) {
	kustomizer := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := kustomizer.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, r := range resources.Resources() {
		encoded, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		out = append(out, encoded)
	}
	return out, nil
}

func documents(files []string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		nodes, err := (&kio.ByteReader{Reader: f, OmitReaderAnnotations: true}).Read()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, node := range nodes {
			encoded, err := node.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			out = append(out, encoded)
		}
	}
	return out, nil
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(1)
}
