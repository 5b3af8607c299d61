package commands

import (
	"context"
	"fmt"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type duOptions struct {
	image    string
	path     string
	layers   []string
	depth    int
	top      int
	perLayer bool
	format   string
	noTrunc  bool
	human    bool
	input    string
	tmpdir   string
	platform *ocispec.Platform
}

func newDuCommand(dockerCLI command.Cli) *cobra.Command {
	var opts duOptions
	cmd := &cobra.Command{
		Use:   "du [OPTIONS] IMAGE [PATH]",
		Short: "Show the bytes of the image's files by directory, or its largest files",
		Long: `Show how many bytes the files of the image take under each directory,
largest first: the merged file system (of the selected layers with -l),
under PATH (the root by default), rolled up to --depth levels below it
(1 by default; 0 gives PATH's total alone). SIZE is the regular files'
bytes (a file with several names counts once), FILES the non-directories
and DIRS the directories below each directory.

--per-layer shows, for each selected layer on its own, the bytes of the
files it stores, by directory: where each layer's size comes from (a
layer's whiteouts store nothing).

--top N shows instead the N largest files, with the layer each came from.

Only headers are read, never file data, and memory stays bounded however
many files the image has.

` + imageSourceHelp + `
For du, though, the only argument after --input is PATH, never NAME: to
pick one image of an archive that holds several, name it as IMAGE instead
(docker-archive:FILE:NAME).

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers du myimg
  docker layers du myimg /usr --depth 2
  docker layers du myimg --top 20
  docker layers du myimg --per-layer -l 2:-1
  docker layers du myimg --format json
  docker layers du --input saved.tar --format '{{.Size}} {{.Path}}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			n := 1
			if opts.input != "" {
				n = 0
			}
			if len(args) < n || len(args) > n+1 {
				return usageErrorf(cmd, "requires IMAGE and at most one PATH, got %d arguments", len(args))
			}
			if n == 1 {
				return imageArgs(1, &opts.input)(cmd, args[:1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.input == "" {
				opts.image, args = args[0], args[1:]
			}
			if len(args) > 0 {
				opts.path = args[0]
			}
			switch {
			case opts.depth < 0:
				return usageErrorf(cmd, "invalid --depth %d: must be 0 or more", opts.depth)
			case opts.top < 0:
				return usageErrorf(cmd, "invalid --top %d: must be 1 or more", opts.top)
			case opts.top > 0 && cmd.Flags().Changed("depth"):
				return usageErrorf(cmd, "--top lists files, --depth directories: give one")
			}
			return status(cmd.Context(), runDu(cmd.Context(), dockerCLI, opts))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layers, "layers", "l", nil, "Sum the merge of these layers only (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.IntVarP(&opts.depth, "depth", "d", 1, "Show directories down to this many levels below PATH")
	flags.IntVar(&opts.top, "top", 0, "Show the N largest files instead")
	flags.BoolVar(&opts.perLayer, "per-layer", false, "Show each selected layer's own files")
	flags.StringVar(&opts.format, "format", "", flagsHelper.FormatHelp)
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&opts.human, "human", "H", true, "Print sizes in human readable format")
	flags.StringVar(&opts.input, "input", "", inputHelp)
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for spooled layers (default $TMPDIR or /tmp)")
	addPlatformFlag(cmd, flags, &opts.platform)
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	_ = cmd.MarkFlagDirname("tmpdir")
	return cmd
}

func runDu(ctx context.Context, dockerCLI command.Cli, opts duOptions) (retErr error) {
	reading := readingProgress(dockerCLI)
	defer reading.done()
	sopts := sourceOptions(dockerCLI, opts.tmpdir, opts.platform, reading.update)
	sel, err := selectLayers(ctx, dockerCLI, opts.input, opts.image, opts.layers, sopts)
	defer closeSelection(sel, &retErr)
	if err != nil {
		return err
	}
	layers, err := sel.Layers(ctx, sel.DiffIDs(), nil)
	if err != nil {
		return err
	}
	reading.done()
	uopts := analyze.UsageOptions{Root: opts.path, Depth: opts.depth, Top: opts.top, TmpDir: opts.tmpdir}
	var usages []*analyze.Usage
	if opts.perLayer {
		which := make([]int, len(layers))
		for i := range which {
			which[i] = i
		}
		usages, err = analyze.LayerDiskUsage(ctx, layers, which, uopts)
	} else {
		var u *analyze.Usage
		u, err = analyze.DiskUsage(ctx, layers, uopts)
		usages = []*analyze.Usage{u}
	}
	if err != nil {
		return err
	}
	fmtCtx := formatter.Context{Output: dockerCLI.Out(), Trunc: !opts.noTrunc}
	rows := newDuRows(sel, usages, opts.perLayer, opts.top > 0)
	fmtCtx.Format = newDuFormat(opts.format, opts.perLayer, opts.top > 0)
	if err := duWrite(fmtCtx, opts.human, rows); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}
