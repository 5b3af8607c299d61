package commands

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type catOptions struct {
	image    string
	path     string
	layers   []string
	output   string
	force    bool
	input    string
	tmpdir   string
	platform *ocispec.Platform
}

func newCatCommand(dockerCLI command.Cli) *cobra.Command {
	var opts catOptions
	cmd := &cobra.Command{
		Use:   "cat [OPTIONS] IMAGE PATH",
		Short: "Print a file of an image, as the selected layers make it",
		Long: `Print the content of the file PATH as the top of the selected layers (all
of them by default) makes it, without creating a container.

PATH is taken from the image's root ("/" is optional). Symlinks are
resolved inside the image: an absolute target from the image's root, ".."
never climbs above it, at most 40 symlinks. A hardlink prints the file it
names. With -l, only the selected layers are merged, as extract merges
them: a file that a lower, unselected layer holds is not found.

The bytes go to stdout (a terminal too, as cat does) or, with -o, to a
file written atomically.

` + imageSourceHelp + `

Exit status 2 when PATH does not exist, was deleted by a layer (the error
names it), or is a directory, a device or a FIFO.

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers cat myimg /etc/os-release
  docker layers cat myimg /app/config.yml -l :3
  docker layers cat myimg /usr/bin/tool -o tool
  docker layers cat --input saved.tar /etc/passwd
  docker layers cat oci:./layout:v2 /etc/os-release`,
		Args: imageArgs(2, &opts.input),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.path = args[0]
			} else {
				opts.image, opts.path = args[0], args[1]
			}
			if opts.path == "" {
				return usageErrorf(cmd, "PATH is empty")
			}
			return status(cmd.Context(), runCat(cmd.Context(), dockerCLI, opts))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layers, "layers", "l", nil, "Merge only these layers (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.StringVarP(&opts.output, "output", "o", "", `Write to a file, or "-" for stdout (default: stdout)`)
	flags.BoolVarP(&opts.force, "force", "f", false, "Overwrite the output file if it exists")
	flags.StringVar(&opts.input, "input", "", inputHelp)
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for spooled layers (default $TMPDIR or /tmp)")
	addPlatformFlag(cmd, flags, &opts.platform)
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	_ = cmd.MarkFlagDirname("tmpdir")
	return cmd
}

func runCat(ctx context.Context, dockerCLI command.Cli, opts catOptions) (retErr error) {
	reading := readingProgress(dockerCLI)
	defer reading.done()
	sopts := sourceOptions(dockerCLI, opts.tmpdir, opts.platform, reading.update)
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
	f, err := sel.Open(ctx, opts.path)
	reading.done()
	var de *flatten.DeletedError
	if errors.As(err, &de) {
		l := sel.Ancestry.Layers[sel.Selected[de.Layer]]
		return fmt.Errorf("%s: deleted by layer %d (%s)", de.Path, l.Index, formatter.TruncateID(l.DiffID.String()))
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(out.w, f); err != nil {
		return fmt.Errorf("writing %s: %w", opts.path, err)
	}
	return out.commit()
}
