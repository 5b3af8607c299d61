package commands

import (
	"context"
	"fmt"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type diffOptions struct {
	image    string
	layers   []string
	paths    []string
	format   string
	summary  bool
	noTrunc  bool
	human    bool
	input    string
	tmpdir   string
	platform *ocispec.Platform
}

func newDiffCommand(dockerCLI command.Cli) *cobra.Command {
	var opts diffOptions
	cmd := &cobra.Command{
		Use:   "diff [OPTIONS] IMAGE",
		Short: "Show the files each layer adds, changes or deletes",
		Long: `Show, for each selected layer (all of them by default), the paths it adds
(A), changes (C) or deletes (D) relative to the file system that all the
layers below it make, from layer 0 up, with the size the layer stores for
each path. For C, WHAT says what changed: content (a file's size or bytes,
a symlink's target, a device's numbers), mode, owner (uid or gid), type or
xattrs. Modification times are not compared. To compare two images, see
"docker layers compare".

Layers 0 to the highest selected one are read (headers only; the bytes of
two files are read, to compare their sha256, only when their sizes are
equal), so "-l -1" still reads every layer. A whiteout of a directory is
one D row for the directory, with the bytes of its whole subtree. An opaque
directory gives one D row per lower child that the layer does not
re-create.

--summary prints one row per layer instead: how many paths it adds,
changes and deletes and their bytes, and WASTED, the bytes of the layer's
files that a higher layer of the image replaced (even with the same bytes)
or deleted: space the image stores but never shows. --summary reads every
layer of the image.

--path GLOB (repeatable) keeps only the paths that match: path.Match
patterns on the path from the root ("etc/*.conf"; a leading "/" is
optional), where a pattern that matches a directory matches everything
under it.

` + imageSourceHelp + `

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers diff myimg
  docker layers diff myimg -l -1
  docker layers diff myimg --path /etc --path 'usr/lib/*.so*'
  docker layers diff myimg --summary
  docker layers diff --input saved.tar --format json
  docker layers diff oci:./layout -l -1
  docker layers diff myimg --format '{{.Layer}} {{.Change}} {{.Path}}'`,
		Args: imageArgs(1, &opts.input),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.image = args[0]
			}
			filter, err := flatten.NewPathFilter(opts.paths, nil)
			if err != nil {
				return usageErrorf(cmd, "invalid --path: %v", err)
			}
			return status(cmd.Context(), runDiff(cmd.Context(), dockerCLI, opts, filter))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layers, "layers", "l", nil, "Show only these layers' changes (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.StringArrayVar(&opts.paths, "path", nil, "Show only paths that match this glob, or are under a directory that does (repeatable)")
	flags.StringVar(&opts.format, "format", "", flagsHelper.FormatHelp)
	flags.BoolVar(&opts.summary, "summary", false, "Show counts, bytes and wasted bytes per layer instead of paths")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&opts.human, "human", "H", true, "Print sizes in human readable format")
	flags.StringVar(&opts.input, "input", "", inputHelp)
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for spooled layers (default $TMPDIR or /tmp)")
	addPlatformFlag(cmd, flags, &opts.platform)
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	_ = cmd.MarkFlagDirname("tmpdir")
	return cmd
}

func runDiff(ctx context.Context, dockerCLI command.Cli, opts diffOptions, filter *flatten.PathFilter) (retErr error) {
	reading := readingProgress(dockerCLI)
	defer reading.done()
	sopts := sourceOptions(dockerCLI, opts.tmpdir, opts.platform, reading.update)
	sel, err := selectLayers(ctx, dockerCLI, opts.input, opts.image, opts.layers, sopts)
	defer closeSelection(sel, &retErr)
	if err != nil {
		return err
	}
	anc := sel.Ancestry
	if len(sel.Selected) == 0 {
		return fmt.Errorf("image %s has no layers", anc.Ref)
	}
	// Each layer's changes are relative to every layer below it; wasted
	// bytes need every layer above.
	top := sel.Selected[len(sel.Selected)-1]
	if opts.summary {
		top = len(anc.Layers) - 1
	}
	layers, err := sel.Layers(ctx, anc.DiffIDs()[:top+1], nil)
	if err != nil {
		return err
	}
	reading.done()
	cs, err := flatten.Changes(ctx, layers, flatten.ChangesOptions{Report: sel.Selected, Filter: filter})
	if err != nil {
		return err
	}
	format := opts.format
	fmtCtx := formatter.Context{Output: dockerCLI.Out(), Trunc: !opts.noTrunc}
	if opts.summary {
		if format == "" {
			format = formatter.TableFormatKey
		}
		fmtCtx.Format = newDiffSummaryFormat(format)
		var rows []diffSummaryRow
		for _, i := range sel.Selected {
			rows = append(rows, diffSummaryRow{layer: i, diffID: anc.Layers[i].DiffID.String(), sum: cs.Summaries[i]})
		}
		return diffSummaryWrite(fmtCtx, opts.human, rows)
	}
	if format == "" {
		format = formatter.TableFormatKey
	}
	fmtCtx.Format = newDiffFormat(format)
	rows := make([]diffRow, len(cs.Changes))
	for i, c := range cs.Changes {
		rows[i] = diffRow{diffID: anc.Layers[c.Layer].DiffID.String(), c: c}
	}
	if err := diffWrite(fmtCtx, opts.human, rows); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}
