package flatten

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func imageLayers() [][]tf {
	sub := time.Date(2024, 2, 3, 4, 5, 6, 789000000, time.UTC)
	return [][]tf{
		{ // a base image
			dir("bin"), dir("etc"), reg("etc/passwd", "root:x:0:0\n"), reg("etc/group", "root:x:0:\n"),
			mode(dir("tmp"), 0o1777), dir("usr"), dir("usr/bin"), mode(reg("usr/bin/sh", "#!sh"), 0o755),
			hl("usr/bin/bash", "usr/bin/sh"), sym("bin/sh", "/usr/bin/sh"),
			dir("dev"), with(reg("dev/null", ""), func(h *tar.Header) { h.Typeflag, h.Mode, h.Devmajor, h.Devminor = tar.TypeChar, 0o666, 1, 3 }),
			owner(mode(dir("home/user"), 0o700), 1000, 1000),
		},
		{ // package install
			reg("etc/passwd", "root:x:0:0\nuser:x:1000:1000\n"), dir("usr/lib"), reg("usr/lib/libc.so", "ELF"),
			wh("usr/bin/sh"), owner(reg("home/user/.profile", "PS1=$"), 1000, 1000),
			dir("app"), reg("app/old.js", "old"), dir("app/node_modules"), reg("app/node_modules/x.js", "x"),
		},
		{ // app layer
			dir("app"), opq("app"), with(reg("app/main.js", "main"), func(h *tar.Header) {
				h.ModTime = sub
				h.PAXRecords = map[string]string{"SCHILY.xattr.user.origin": "build"}
			}),
			wh("tmp"), mode(reg("app/run", "#!run"), 0o4755), hl("app/run2", "app/run"),
		},
	}
}

func churnLayers() [][]tf {
	var layers [][]tf
	for l := range 6 {
		var es []tf
		for d := range 3 {
			p := fmt.Sprintf("d%d/e%d", d, l%2)
			es = append(es, dir(p), reg(fmt.Sprintf("%s/f%d", p, l), fmt.Sprintf("L%d", l)))
			if l > 0 {
				es = append(es, wh(fmt.Sprintf("d%d/e%d/f%d", d, (l-1)%2, l-2)))
			}
		}
		if l == 3 {
			es = append(es, opq("d1"))
		}
		if l == 4 {
			es = append(es, wh("d2"))
		}
		layers = append(layers, es)
	}
	return layers
}

func TestGolden(t *testing.T) {
	t.Setenv("TZ", "UTC")
	tests := []struct {
		name   string
		layers [][]tf
		keep   bool
	}{
		{name: "image", layers: imageLayers()},
		{name: "image-keep-whiteouts", layers: imageLayers(), keep: true},
		{name: "image-top-keep-whiteouts", layers: imageLayers()[1:], keep: true},
		{name: "churn", layers: churnLayers()},
		{name: "churn-keep-whiteouts", layers: churnLayers(), keep: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tars [][]byte
			for _, l := range tc.layers {
				tars = append(tars, mkTar(t, l...))
			}
			out, _, err := run(t, tars, Options{KeepWhiteouts: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			again, _, _ := run(t, tars, Options{KeepWhiteouts: tc.keep})
			if !bytes.Equal(out, again) {
				t.Fatal("two runs differ")
			}
			if err := checkOutput(out, tc.keep); err != nil {
				t.Fatal(err)
			}
			lines, err := fullListing(out)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(lines, "\n") + fmt.Sprintf("\n\n%d bytes, sha256 %x\n", len(out), sha256.Sum256(out))
			file := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./flatten -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run go test ./flatten -update if intended):\n%s", file, got)
			}
		})
	}
}
