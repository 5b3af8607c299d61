package commands

import (
	"context"
	"fmt"

	"github.com/docker-layers/docker-layers/compare"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/source"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// exitDiffer is compare's exit status, with --exit-code, when the images
// differ.
const exitDiffer = exitCheckFailed

type compareOptions struct {
	imageA, imageB string
	layersA        []string
	layersB        []string
	paths          []string
	format         string
	summary        bool
	config         bool
	mtime          bool
	exitCode       bool
	noTrunc        bool
	human          bool
	tmpdir         string
	platform       *ocispec.Platform
}

func newCompareCommand(dockerCLI command.Cli) *cobra.Command {
	var opts compareOptions
	cmd := &cobra.Command{
		Use:   "compare [OPTIONS] IMAGE_A [IMAGE_B]",
		Short: "Show the files, or the config, in which two images differ",
		Long: `Show the paths in which the file systems of two images differ, as the
flattened layers of each make them: A for a path only IMAGE_B has, D for
one only IMAGE_A has, C for one both have with different attributes. For
C, WHAT says which: content (a file's size or sha256, a symlink's
target, a device's numbers), mode, owner (uid or gid), type, xattrs,
hardlink (the path is a hardlink to another path on one side only, or to
another path), and, with --mtime, mtime. A directory only one side has
gives a row for each path under it too. SIZE is the file's bytes on the
side that has it (IMAGE_B's for C).

-l/--layers selects IMAGE_A's layers and --layers-b IMAGE_B's (every
layer by default): their flattened file systems are compared. Without
IMAGE_B, the other side is IMAGE_A itself, so that two layer ranges of
one image compare ("-l :3 --layers-b :5").

Layers the two sides share from the bottom (the same diff IDs in the same
positions) are not read as a whole: only the paths that the other layers
touch are looked up in them, and file data is read only to compare two
files of the same size (sha256). Two images of one daemon are read from
one "docker save" stream, which holds their shared layers once.

--config compares the image configs instead: Env, Labels, Cmd,
Entrypoint, WorkingDir, User, ExposedPorts, Volumes, StopSignal,
Healthcheck, Shell, OnBuild, the platform, the layers and the history,
each key or entry a row (FIELD, CHANGE, A, B).

--summary prints the counts and bytes of the rows instead.

--path GLOB (repeatable) keeps only the paths that match, as in
"docker layers diff".

The images must be of one platform; --platform picks it in
multi-platform images.

IMAGE_A and IMAGE_B each name an image of the Docker daemon or one saved
elsewhere, as skopeo names it (docker-archive:FILE[:NAME], oci:DIR[:NAME],
oci-archive:FILE[:NAME], docker-daemon:NAME; "-" as FILE is stdin, for
one of the two). See "docker layers diff --help" for the details.

` + layerSpecHelp + `

Exit status:
  0  success (with --exit-code: the images do not differ)
  1  usage error: unknown flag, wrong number of arguments, bad flag value
  2  runtime failure: daemon unreachable, image not found, images of two
     platforms, a broken archive or layout, a digest mismatch, I/O error
  3  a layer spec that does not resolve, or resolves ambiguously
  4  with --exit-code: the images differ (a row was printed, or counted)
  130, 143  interrupted by SIGINT or SIGTERM`,
		Example: `  docker layers compare myapp:1 myapp:2
  docker layers compare myapp:1 myapp:2 --config
  docker layers compare myapp:1 docker-archive:myapp-2.tar --summary
  docker layers compare myapp -l :3 --layers-b :5
  docker layers compare oci:./layout:v1 oci:./layout:v2 --path /etc --format json
  docker layers compare myapp:1 myapp:2 --exit-code --summary; [ $? = 4 ] && echo differ
  docker layers compare myapp:1 myapp:2 --format '{{.Change}} {{.Path}} {{.What}}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErrorf(cmd, "requires 1 or 2 arguments, got %d", len(args))
			}
			for _, a := range args {
				if _, err := source.ParseReference(a); err != nil {
					return usageErrorf(cmd, "%v", err)
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.imageA, opts.imageB = args[0], args[0]
			if len(args) == 2 {
				opts.imageB = args[1]
			} else if ref, _ := source.ParseReference(args[0]); ref.Path == "-" && ref.Transport != source.Daemon {
				// The other side would be the same image, from stdin again.
				return usageErrorf(cmd, "only one image can be read from stdin: give IMAGE_B")
			}
			filter, err := flatten.NewPathFilter(opts.paths, nil)
			if err != nil {
				return usageErrorf(cmd, "invalid --path: %v", err)
			}
			if opts.config && (len(opts.layersA) > 0 || len(opts.layersB) > 0 || len(opts.paths) > 0 || opts.mtime || opts.summary) {
				return usageErrorf(cmd, "--config compares whole images: it takes no --layers, --layers-b, --path, --mtime or --summary")
			}
			differ, err := runCompare(cmd.Context(), dockerCLI, opts, filter)
			if err != nil {
				return status(cmd.Context(), err)
			}
			if differ && opts.exitCode {
				return cli.StatusError{StatusCode: exitDiffer}
			}
			return nil
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 2),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layersA, "layers", "l", nil, "Compare these layers of IMAGE_A (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.StringArrayVar(&opts.layersB, "layers-b", nil, "Compare these layers of IMAGE_B (as --layers)")
	_ = cmd.RegisterFlagCompletionFunc("layers-b", completeLayerSpecs(dockerCLI, 1))
	flags.StringArrayVar(&opts.paths, "path", nil, "Show only paths that match this glob, or are under a directory that does (repeatable)")
	flags.StringVar(&opts.format, "format", "", flagsHelper.FormatHelp)
	flags.BoolVar(&opts.summary, "summary", false, "Show the counts and bytes of the differences instead of paths")
	flags.BoolVar(&opts.config, "config", false, "Compare the image configs instead of the files")
	flags.BoolVar(&opts.mtime, "mtime", false, "Compare modification times too")
	flags.BoolVar(&opts.exitCode, "exit-code", false, "Exit with status 4 when the images differ")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&opts.human, "human", "H", true, "Print sizes in human readable format")
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for spooled layers (default $TMPDIR or /tmp)")
	addPlatformFlag(cmd, flags, &opts.platform)
	_ = cmd.MarkFlagDirname("tmpdir")
	return cmd
}

// runCompare prints the differences and reports whether there are any.
func runCompare(ctx context.Context, dockerCLI command.Cli, opts compareOptions, filter *flatten.PathFilter) (bool, error) {
	refA, err := source.ParseReference(opts.imageA)
	if err != nil {
		return false, err
	}
	refB, err := source.ParseReference(opts.imageB)
	if err != nil {
		return false, err
	}
	var c source.Client
	if refA.Transport == source.Daemon || refB.Transport == source.Daemon {
		c = dockerCLI.Client()
	}
	a := compare.Side{Ref: refA, Layers: opts.layersA}
	b := compare.Side{Ref: refB, Layers: opts.layersB}
	reading := readingProgress(dockerCLI)
	defer reading.done()
	copts := compare.Options{
		Source:  sourceOptions(dockerCLI, opts.tmpdir, opts.platform, reading.update),
		Filter:  filter,
		ModTime: opts.mtime,
	}
	fmtCtx := formatter.Context{Output: dockerCLI.Out(), Trunc: !opts.noTrunc}
	format := opts.format
	if format == "" {
		format = formatter.TableFormatKey
	}
	if opts.config {
		res, err := compare.Configs(ctx, c, a, b, copts)
		if err != nil {
			return false, err
		}
		reading.done()
		fmtCtx.Format = newCompareConfigFormat(format)
		if err := compareConfigWrite(fmtCtx, res.Changes); err != nil {
			return false, fmt.Errorf("writing output: %w", err)
		}
		return len(res.Changes) > 0, nil
	}
	res, err := compare.Files(ctx, c, a, b, copts)
	if err != nil {
		return false, err
	}
	reading.done()
	if opts.summary {
		fmtCtx.Format = newCompareSummaryFormat(format)
		err = compareSummaryWrite(fmtCtx, opts.human, summarize(res.Differences))
	} else {
		fmtCtx.Format = newCompareFormat(format)
		err = compareWrite(fmtCtx, opts.human, res.Differences)
	}
	if err != nil {
		return false, fmt.Errorf("writing output: %w", err)
	}
	return len(res.Differences) > 0, nil
}
