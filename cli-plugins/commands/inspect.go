package commands

import (
	"context"
	"fmt"

	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type inspectOptions struct {
	image    string
	layers   []string
	format   string
	quiet    bool
	noTrunc  bool
	human    bool
	all      bool
	input    string
	tmpdir   string
	platform *ocispec.Platform
}

func newInspectCommand(dockerCLI command.Cli) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE",
		Short: "Show the layer ancestry of an image",
		Long: `Show the layers of an image, newest first like "docker history": each
layer's index, diff ID, the intermediate image that ends at it, when and
by which step it was created, its size and the size of the image up to it.

From the daemon, it reads image metadata only and never exports the
image, so it is instant however large the image is; an archive file or a
layout is read in place, and only an archive on stdin or a compressed one
is spooled first (to --tmpdir). The one exception is --platform for
another platform than the daemon's host on a containerd image store older
than API 1.49: the image's save stream is then read for that platform's
config, and its layer data skipped.

` + imageSourceHelp + `

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers inspect alpine
  docker layers inspect -l 1:-1 --no-trunc myimg
  docker layers inspect --all myimg
  docker layers inspect -q -l -1 myimg
  docker layers inspect --input saved.tar
  docker layers inspect oci:./layout:latest
  docker layers inspect --platform linux/arm64 myimg
  docker layers inspect --format json myimg
  docker layers inspect --format '{{.Index}}\t{{.DiffID}}\t{{.Size}}' myimg`,
		Args: imageArgs(1, &opts.input),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.image = args[0]
			}
			return status(cmd.Context(), runInspect(cmd.Context(), dockerCLI, opts))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layers, "layers", "l", nil, "Show only these layers (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.StringVar(&opts.format, "format", "", flagsHelper.FormatHelp)
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show diff IDs")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&opts.human, "human", "H", true, "Print sizes and dates in human readable format")
	flags.BoolVarP(&opts.all, "all", "a", false, "Also show history steps that made no layer (ENV, CMD...)")
	flags.StringVar(&opts.input, "input", "", inputHelp)
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory an archive on stdin or a compressed one is spooled to (default $TMPDIR or /tmp)")
	_ = cmd.MarkFlagDirname("tmpdir")
	addPlatformFlag(cmd, flags, &opts.platform)
	return cmd
}

func runInspect(ctx context.Context, dockerCLI command.Cli, opts inspectOptions) (retErr error) {
	sel, err := selectLayers(ctx, dockerCLI, opts.input, opts.image, opts.layers, sourceOptions(dockerCLI, opts.tmpdir, opts.platform, nil))
	defer closeSelection(sel, &retErr)
	if err != nil {
		return err
	}
	anc, selected := sel.Ancestry, sel.Selected
	rows := inspectRows(anc, selected, opts.all)
	if inferred := inferredLayers(anc, selected); len(inferred) > 0 && !opts.quiet {
		_, _ = fmt.Fprintf(dockerCLI.Err(), "warning: the Engine API does not say which history steps of %s made layers %v; their CREATED BY is inferred from the commands (marked * after the index)\n", opts.image, inferred)
	}
	format := opts.format
	if format == "" {
		format = formatter.TableFormatKey
	}
	return layersWrite(formatter.Context{
		Output: dockerCLI.Out(),
		Format: newLayersFormat(format, opts.quiet, opts.human),
		Trunc:  !opts.noTrunc,
	}, opts.human, rows)
}

// inspectRows returns the rows to print, newest first: one per selected
// layer, and with all, also the steps that made no layer above each one.
func inspectRows(a *inspect.Ancestry, selected []int, all bool) []layerRow {
	var rows []layerRow
	if !all {
		for k := len(selected) - 1; k >= 0; k-- {
			rows = append(rows, newLayerRow(a, selected[k], a.Layers[selected[k]].Step, false))
		}
		return rows
	}
	isSelected := make(map[int]bool, len(selected))
	for _, i := range selected {
		isSelected[i] = true
	}
	// A step that made no layer belongs to the layer below it (the image it
	// produced ends at that layer); steps below the first layer belong to
	// none and show only when every layer is selected.
	below := -1
	owner := make([]int, len(a.Steps))
	for i, s := range a.Steps {
		if s.Layer >= 0 {
			below = s.Layer
		}
		owner[i] = below
	}
	for i := len(a.Steps) - 1; i >= 0; i-- {
		if o := owner[i]; (o >= 0 && isSelected[o]) || (o < 0 && len(selected) == len(a.Layers)) {
			rows = append(rows, newLayerRow(a, a.Steps[i].Layer, i, true))
		}
	}
	// Layers the history does not name (no history at all) still show.
	for k := len(selected) - 1; k >= 0; k-- {
		if l := a.Layers[selected[k]]; l.Step < 0 {
			rows = append(rows, newLayerRow(a, l.Index, -1, false))
		}
	}
	return rows
}

func inferredLayers(a *inspect.Ancestry, selected []int) []int {
	var out []int
	for _, i := range selected {
		if s := a.Layers[i].Step; s >= 0 && a.Steps[s].Inferred {
			out = append(out, i)
		}
	}
	return out
}
