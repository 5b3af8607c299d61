package commands

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/source"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type extractOptions struct {
	image         string
	layers        []string
	output        string
	force         bool
	input         string
	keepWhiteouts bool
	allWhiteouts  bool
	include       []string
	exclude       []string
	compression   string
	gzip, bzip2   bool
	xz, zstd      bool
	level         int
	tmpdir        string
	progress      string
	quiet         bool
	platform      *ocispec.Platform
	indexEntries  int
	epoch         time.Time // SOURCE_DATE_EPOCH; zero when unset
}

func newExtractCommand(dockerCLI command.Cli) *cobra.Command {
	var opts extractOptions
	cmd := &cobra.Command{
		Use:   "extract [OPTIONS] IMAGE",
		Short: "Export a range of an image's layers, flattened, as one tarball",
		Long: `Export the selected layers of an image (all of them by default) and
flatten them into one tarball, applying whiteouts the way the OCI image
spec says: the result is the file system those layers make, without the
layers below them.

The tarball goes to the file named by -o, written atomically (a temp file
beside it, renamed into place when complete: no partial file is ever left),
or to stdout with -o - or when stdout is redirected. The compression comes
from the file's extension (.tar, .tar.gz/.tgz, .tar.bz2/.tbz2, .tar.xz/.txz,
.tar.zst/.tzst) or from -z, -j, -J, --zstd or --compression.

--include and --exclude (repeatable) select paths with path.Match globs
on the path from the root ("etc/*.conf"; a leading "/" is optional). A glob
that matches a directory selects everything under it, an exclusion wins,
and the parent directories of included paths are written too, so that
"tar -x" gives them their attributes.

--keep-whiteouts writes the squashed layer diff of the selected layers
instead: whiteouts and opaque markers that hide files below them are
kept. Only those that hide something in the image's layers below the
selection are written (their headers are read for that), so applied on
those layers it gives the image's file system with as few markers as
can be. --all-whiteouts keeps every marker the selected layers make, so
that the diff applies on any lower image as the layers do; it is also
what a selection that is not one range (-l 1 -l 3) gets.

` + sourceDateEpochHelp + ` The output of the same
layers is then the same bytes, whenever they were built.

` + imageSourceHelp + `

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers extract myimg -o rootfs.tar.gz
  docker layers extract myimg -l 3:-1 -o - | tar -tzv
  docker layers extract myimg --include /etc --exclude '/etc/ssl' -o etc.tar
  docker layers extract myimg -l -1 --keep-whiteouts -o top-layer.tar
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) docker layers extract myimg -o rootfs.tar
  docker layers extract --input saved.tar -o rootfs.tar
  docker layers extract oci-archive:app.oci.tar -o rootfs.tar
  docker layers extract --platform linux/arm64 myimg -o rootfs-arm64.tar
  docker save myimg | docker layers extract --input - -l 2: --zstd > changes.tar.zst`,
		Args: imageArgs(1, &opts.input),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.image = args[0]
			}
			if err := validateExtractFlags(cmd, dockerCLI, &opts); err != nil {
				return err
			}
			return status(cmd.Context(), runExtract(cmd.Context(), dockerCLI, opts))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layers, "layers", "l", nil, "Extract only these layers (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.StringVarP(&opts.output, "output", "o", "", `Write to a file, or "-" for stdout (default: stdout, unless it is a terminal)`)
	flags.BoolVarP(&opts.force, "force", "f", false, "Overwrite the output file if it exists")
	flags.StringVar(&opts.input, "input", "", inputHelp)
	flags.BoolVar(&opts.keepWhiteouts, "keep-whiteouts", false, "Keep whiteouts that hide files below the selected layers: write the squashed layer diff")
	flags.BoolVar(&opts.allWhiteouts, "all-whiteouts", false, "With --keep-whiteouts, keep every whiteout and opaque marker, also those that hide nothing in the layers below")
	flags.StringVar(&opts.compression, "compression", "", "Compression: none, gzip, bzip2, xz or zstd (default: from the output file's extension, else none)")
	flags.BoolVarP(&opts.gzip, "gzip", "z", false, "Compress with gzip (parallel)")
	flags.BoolVarP(&opts.bzip2, "bzip2", "j", false, "Compress with bzip2")
	flags.BoolVarP(&opts.xz, "xz", "J", false, "Compress with xz")
	flags.BoolVar(&opts.zstd, "zstd", false, "Compress with zstd")
	flags.IntVar(&opts.level, "level", 0, "Compression level (gzip and bzip2 1-9, xz 0-9, zstd 1-22; default: the format's own)")
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for spooled layers and the index of a large image (default $TMPDIR or /tmp)")
	flags.StringVar(&opts.progress, "progress", "auto", `Progress output on stderr: "auto", "tty", "plain" or "none"`)
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress the progress output")
	flags.StringArrayVar(&opts.include, "include", nil, "Write only paths that match this glob, or are under a directory that does, and their parents (repeatable)")
	flags.StringArrayVar(&opts.exclude, "exclude", nil, "Leave out paths that match this glob, or are under a directory that does (repeatable)")
	_ = cmd.MarkFlagFilename("output", "tar", "tgz", "gz", "tbz2", "bz2", "txz", "xz", "tzst", "zst")
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	_ = cmd.MarkFlagDirname("tmpdir")
	addPlatformFlag(cmd, flags, &opts.platform)
	// How many entries of the merge index stay in memory before it goes
	// to --tmpdir; the e2e tests make small images take that path.
	flags.IntVar(&opts.indexEntries, "index-entries", 0, "Entries of the merge index held in memory before it spills to --tmpdir (default 16384)")
	_ = flags.MarkHidden("index-entries")
	_ = cmd.RegisterFlagCompletionFunc("compression", cobra.FixedCompletions([]string{"none", "gzip", "bzip2", "xz", "zstd"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "tty", "plain", "none"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validateExtractFlags settles the compression and the output before any
// work: every mistake here is a usage error (exit 1).
func validateExtractFlags(cmd *cobra.Command, dockerCLI command.Cli, opts *extractOptions) error {
	var chosen []compression
	for _, f := range []struct {
		set bool
		c   compression
	}{{opts.gzip, compressionGzip}, {opts.bzip2, compressionBzip2}, {opts.xz, compressionXz}, {opts.zstd, compressionZstd}} {
		if f.set {
			chosen = append(chosen, f.c)
		}
	}
	if opts.compression != "" {
		c, err := parseCompression(opts.compression)
		if err != nil {
			return usageErrorf(cmd, "%v", err)
		}
		chosen = append(chosen, c)
	}
	if len(chosen) > 1 && !allSame(chosen) {
		return usageErrorf(cmd, "conflicting compressions %v: choose one", chosen)
	}
	fromName, named := compressionFromName(opts.output)
	switch {
	case len(chosen) > 0:
		if named && fromName != chosen[0] {
			_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: writing %s compression to %s, whose extension says %s\n", chosen[0], opts.output, fromName)
		}
		opts.compression = string(chosen[0])
	case named:
		opts.compression = string(fromName)
	default:
		opts.compression = string(compressionNone)
	}
	if r, ok := levelRange[compression(opts.compression)]; ok && opts.level != 0 && (opts.level < r[0] || opts.level > r[1]) {
		return usageErrorf(cmd, "--level %d is out of range for %s (%d to %d)", opts.level, opts.compression, r[0], r[1])
	}
	if opts.allWhiteouts && !opts.keepWhiteouts {
		return usageErrorf(cmd, "--all-whiteouts needs --keep-whiteouts")
	}
	if opts.indexEntries < 0 {
		return usageErrorf(cmd, "--index-entries %d is negative", opts.indexEntries)
	}
	var err error
	if opts.epoch, err = sourceDateEpoch(cmd); err != nil {
		return err
	}
	if _, err := flatten.NewPathFilter(opts.include, opts.exclude); err != nil {
		return usageErrorf(cmd, "invalid --include or --exclude: %v", err)
	}
	switch opts.progress {
	case "auto", "tty", "plain", "none":
	default:
		return usageErrorf(cmd, "invalid --progress %q: want auto, tty, plain or none", opts.progress)
	}
	if (opts.output == "" || opts.output == "-") && dockerCLI.Out().IsTerminal() {
		return usageErrorf(cmd, "refusing to write a tarball to a terminal: use -o FILE or redirect stdout")
	}
	return nil
}

func allSame(cs []compression) bool {
	for _, c := range cs {
		if c != cs[0] {
			return false
		}
	}
	return true
}

func runExtract(ctx context.Context, dockerCLI command.Cli, opts extractOptions) (retErr error) {
	progress := newProgress(dockerCLI, opts.progress, opts.quiet)
	defer progress.done()
	sopts := sourceOptions(dockerCLI, opts.tmpdir, opts.platform, progress.update)
	sel, err := selectLayers(ctx, dockerCLI, opts.input, opts.image, opts.layers, sopts)
	defer closeSelection(sel, &retErr)
	if err != nil {
		return err
	}

	out, err := createOutput(opts.output, opts.force, dockerCLI.Out())
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			out.abort()
		}
	}()
	// Each layer is indexed (flatten's first pass) as soon as it is in
	// hand, while the next ones are still being read and verified;
	// nothing is written before every layer is verified.
	want := sel.DiffIDs()
	lowerIDs := lowerLayers(sel, opts.keepWhiteouts && !opts.allWhiteouts)
	ix := flatten.NewIndexer(ctx, len(want), flatten.Options{
		KeepWhiteouts: opts.keepWhiteouts,
		ClampMtime:    opts.epoch,
		Include:       opts.include,
		Exclude:       opts.exclude,
		Warn:          progress.warn,
		TmpDir:        opts.tmpdir,
		IndexEntries:  opts.indexEntries,
		Progress:      progress.written,
	})
	defer ix.Close()
	below := 0
	if lowerIDs != nil {
		below = len(lowerIDs)
		want = append(lowerIDs, want...)
	}
	all, err := sel.Layers(ctx, want, func(k int, l flatten.Layer) { ix.Add(k-below, l) })
	if err != nil {
		return err
	}
	lower, layers := all[:below], all[below:]
	progress.flattening(len(layers))
	cw, err := newCompressor(out.w, compression(opts.compression), opts.level)
	if err != nil {
		return err
	}
	var dst io.Writer = cw
	if compression(opts.compression) == compressionNone {
		// The output file itself, so that flatten can have the kernel
		// copy file data to it (copy_file_range, sendfile).
		dst = out.w
	}
	flat := ix.Flatten
	if lowerIDs != nil {
		flat = func(w io.Writer, layers []flatten.Layer) error { return ix.FlattenOnto(w, layers, lower) }
	}
	if err := flat(dst, layers); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	if err := out.commit(); err != nil {
		return err
	}
	progress.summarize("Extracted", "to "+outputName(opts.output))
	return nil
}

// lowerLayers returns the diff IDs of the image's layers below the
// selection when minimal is set and the selection is one range, whose
// squashed layer diff then keeps only the markers that hide something in
// them; else nil, and every marker is kept.
func lowerLayers(sel *source.Selection, minimal bool) []digest.Digest {
	if !minimal {
		return nil
	}
	from, _, err := sel.Range()
	if err != nil {
		return nil // not one range: below it is not one image
	}
	ids := make([]digest.Digest, from)
	for i := range from {
		ids[i] = sel.Ancestry.Layers[i].DiffID
	}
	return ids
}

// outputName names where -o wrote, for a summary.
func outputName(output string) string {
	if output == "" || output == "-" {
		return "stdout"
	}
	return output
}
