// Command benchtool is the helper of e2e/bench/run.sh (make bench).
//
//	benchtool offset ARCHIVE
//		prints the byte offset, in the uncompressed `docker save` archive
//		ARCHIVE, just past the data of the top layer's blob (layer.tar in
//		the legacy layout, blobs/sha256/<digest> in the OCI layouts), then
//		the entry's name and size: "OFFSET NAME SIZE".
//	benchtool copy SRC DST BYTES
//		writes BYTES of SRC (from its start again as often as needed) to
//		the new file DST with copy_file_range (io.CopyN between files).
//	benchtool manyfiles -o ARCHIVE [-files N] [-layers 1] [-variant V] [-gzip]
//		writes a "docker save" archive of an image of N small files (a
//		million by default) and a second layer that rewrites and deletes
//		some of them: the image of (l); with -layers 1 the first layer
//		only, with -variant one file in a hundred changed, with -gzip
//		the layer blobs compressed: two large sides for compare.
//	benchtool report -dir RUNDIR -o BENCHMARKS.md
//		reads the samples, commands and facts run.sh recorded in RUNDIR and
//		writes the report: every figure with min/median/max, every ratio
//		beside its target.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool offset ARCHIVE | benchtool copy SRC DST BYTES | benchtool report -dir RUNDIR -o FILE")
		os.Exit(1)
	}
	var err error
	switch os.Args[1] {
	case "offset":
		err = runOffset(os.Args[2:])
	case "copy":
		err = runCopy(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	case "manyfiles":
		err = runManyFiles(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}
