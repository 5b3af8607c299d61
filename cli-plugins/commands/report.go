package commands

import (
	"bufio"
	"context"
	"fmt"

	"github.com/docker-layers/docker-layers/report"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type reportOptions struct {
	image    string
	layers   []string
	output   string
	force    bool
	input    string
	tmpdir   string
	platform *ocispec.Platform
}

func newReportCommand(dockerCLI command.Cli) *cobra.Command {
	var opts reportOptions
	cmd := &cobra.Command{
		Use:   "report [OPTIONS] IMAGE",
		Short: "Write an HTML report of an image: its layers, their changes, where its bytes are",
		Long: `Write one self-contained HTML page that shows the image (reference, ID,
platform, size), its layers with the step that made each and a size bar,
each layer's changes (the paths it adds, changes and deletes; the largest
` + fmt.Sprint(report.MaxChanges) + ` of each layer), a treemap of the merged file system by size,
coloured by the layer each path comes from, and the files a higher layer
replaced or deleted (wasted space), largest first.

The page loads nothing: its style and its small script are inline, so it
opens offline in any browser and can be mailed or attached to a CI run.
It stays small however many files the image holds: directories below
depth ` + fmt.Sprint(report.DefaultDepth) + ` are rolled up, the treemap draws at most ` + fmt.Sprint(report.MaxBoxes) + ` boxes, and
the rest of a directory is one "other" box.

Every layer is read (headers only; the bytes of two files of equal size
are read to compare them). -l selects the layers whose changes are
listed; the others are still shown and counted.

The page goes to the file named by -o, written atomically (no partial
file is ever left), or to stdout with -o - or when stdout is redirected;
a terminal is refused.

` + imageSourceHelp + `

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers report myimg -o report.html
  docker layers report myimg -l -1 -o top-layer.html
  docker layers report --input saved.tar -o report.html
  docker layers report oci:./layout -o - > report.html
  docker layers report --platform linux/arm64 myimg -o report-arm64.html`,
		Args: imageArgs(1, &opts.input),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.image = args[0]
			}
			if (opts.output == "" || opts.output == "-") && dockerCLI.Out().IsTerminal() {
				return usageErrorf(cmd, "refusing to write HTML to a terminal: use -o FILE or redirect stdout")
			}
			return status(cmd.Context(), runReport(cmd.Context(), dockerCLI, opts))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layers, "layers", "l", nil, "List only these layers' changes (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.StringVarP(&opts.output, "output", "o", "", `Write to a file, or "-" for stdout (default: stdout, unless it is a terminal)`)
	flags.BoolVarP(&opts.force, "force", "f", false, "Overwrite the output file if it exists")
	flags.StringVar(&opts.input, "input", "", inputHelp)
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for spooled layers and the index of a large image (default $TMPDIR or /tmp)")
	addPlatformFlag(cmd, flags, &opts.platform)
	_ = cmd.MarkFlagFilename("output", "html", "htm")
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	_ = cmd.MarkFlagDirname("tmpdir")
	return cmd
}

func runReport(ctx context.Context, dockerCLI command.Cli, opts reportOptions) (retErr error) {
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
	data, err := report.Gather(ctx, sel, report.Options{List: sel.Selected, TmpDir: opts.tmpdir})
	if err != nil {
		return err
	}
	reading.done()
	w := bufio.NewWriterSize(out.w, 64<<10)
	if err := report.Write(w, data); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return out.commit()
}
