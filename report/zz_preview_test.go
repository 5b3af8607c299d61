package report

import (
	"fmt"
	"os"
	"testing"
)

func TestPreview(t *testing.T) {
	d := sample()
	d.Tree = bigTree(30, 40)
	for i := 2; i < 9; i++ {
		d.Layers = append(d.Layers, Layer{Index: i, DiffID: fmt.Sprint("sha256:cc", i), Size: int64(i * 700), CreatedBy: "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends curl ca-certificates git make gcc libc6-dev", Added: i, AddedBytes: int64(i * 700), Changes: []Change{}})
	}
	f, _ := os.Create("/tmp/preview.html")
	defer f.Close()
	if err := Write(f, d); err != nil {
		t.Fatal(err)
	}
}
