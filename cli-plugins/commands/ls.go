package commands

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type lsOptions struct {
	image     string
	paths     []string
	layers    []string
	globs     []string
	recursive bool
	depth     int
	tree      bool
	history   bool
	format    string
	noTrunc   bool
	human     bool
	input     string
	tmpdir    string
	platform  *ocispec.Platform
}

func newLsCommand(dockerCLI command.Cli) *cobra.Command {
	var opts lsOptions
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS] IMAGE [PATH...]",
		Short: "List the image's files, with the layer each one came from",
		Long: `List the merged file system of the image (of the selected layers with
-l), as "docker export" would give it: for each path its mode, owner,
size, and LAYER, the layer that last wrote it (its index and diff ID; "-"
for a directory that no layer defines, created as a parent). A symlink
shows "-> TARGET"; a second name of a file (a hardlink) shows
"link to PATH", the name that holds the file, and a size of 0, so sizes
add up to the bytes stored.

Without PATH, the root is listed; a directory PATH is listed by its
contents, any other path by itself. By default one level is listed: -R
lists every level, --depth N that many. --tree draws the levels as a tree
(every level, unless --depth says otherwise).

With --history and one PATH, ls shows instead every selected layer that
added, changed or deleted that path (or a directory above it) and what
it changed, with the history step that made the layer.

Only headers are read, never file data, and memory stays bounded however
many files the image has (except with --tree, which holds its output).
A large table is aligned in blocks of 4,096 rows so that it streams.

--path GLOB (repeatable) keeps only the paths that match: path.Match
patterns on the path from the root ("etc/*.conf"), where a pattern that
matches a directory matches everything under it.

` + imageSourceHelp + `
For ls, though, every argument after --input is a PATH, never NAME: to
pick one image of an archive that holds several, name it as IMAGE instead
(docker-archive:FILE:NAME).

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers ls myimg
  docker layers ls myimg /etc -R
  docker layers ls myimg --tree --depth 2
  docker layers ls myimg -R --path 'usr/lib/*.so*' --format json
  docker layers ls myimg -l :3 /app
  docker layers ls myimg --history /etc/passwd
  docker layers ls --input saved.tar / --format '{{.Layer}} {{.Path}}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.input == "" {
				if len(args) == 0 {
					return usageErrorf(cmd, "requires at least 1 argument")
				}
				return imageArgs(1, &opts.input)(cmd, args[:1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.input == "" {
				opts.image, args = args[0], args[1:]
			}
			opts.paths = args
			if err := validateLsFlags(cmd, &opts); err != nil {
				return err
			}
			return status(cmd.Context(), runLs(cmd.Context(), dockerCLI, opts))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.layers, "layers", "l", nil, "List the merge of these layers only (index, ID prefix, tag or range A:B; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.BoolVarP(&opts.recursive, "recursive", "R", false, "List every level below PATH")
	flags.IntVar(&opts.depth, "depth", 0, "List this many levels below PATH (default 1; with -R or --tree every level)")
	flags.BoolVar(&opts.tree, "tree", false, "Draw the listing as a tree")
	flags.BoolVar(&opts.history, "history", false, "Show what each layer did to PATH instead")
	flags.StringArrayVar(&opts.globs, "path", nil, "Show only paths that match this glob, or are under a directory that does (repeatable)")
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

func validateLsFlags(cmd *cobra.Command, opts *lsOptions) error {
	flags := cmd.Flags()
	switch {
	case opts.depth < 0:
		return usageErrorf(cmd, "invalid --depth %d: must be 1 or more", opts.depth)
	case opts.recursive && flags.Changed("depth"):
		return usageErrorf(cmd, "-R and --depth conflict: give one")
	case opts.tree && opts.format != "" && !formatter.Format(opts.format).IsTable():
		return usageErrorf(cmd, "--tree draws a table: it cannot be used with --format %s", opts.format)
	case opts.history && len(opts.paths) != 1:
		return usageErrorf(cmd, "--history shows one path: give exactly one PATH")
	case opts.history && path.Clean("/"+opts.paths[0]) == "/":
		return usageErrorf(cmd, "--history of the root is every layer: give a path below it")
	case opts.tree && len(opts.paths) > 1:
		return usageErrorf(cmd, "--tree draws one tree: give at most one PATH")
	case flags.Changed("depth") && opts.depth == 0:
		return usageErrorf(cmd, "invalid --depth 0: must be 1 or more (-R lists every level)")
	case opts.history && (opts.tree || opts.recursive || flags.Changed("depth") || len(opts.globs) > 0):
		return usageErrorf(cmd, "--history cannot be used with -R, --depth, --tree or --path")
	}
	if _, err := flatten.NewPathFilter(opts.globs, nil); err != nil {
		return usageErrorf(cmd, "invalid --path: %v", err)
	}
	if !flags.Changed("depth") && !opts.recursive && !opts.tree {
		opts.depth = 1
	}
	return nil
}

func runLs(ctx context.Context, dockerCLI command.Cli, opts lsOptions) (retErr error) {
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
	fmtCtx := formatter.Context{Output: dockerCLI.Out(), Format: formatter.Format(opts.format), Trunc: !opts.noTrunc}
	if opts.history {
		steps, err := analyze.History(ctx, layers, opts.paths[0])
		if err != nil {
			return err
		}
		fmtCtx.Format = newLsHistoryFormat(opts.format)
		return lsHistoryWrite(fmtCtx, opts.human, sel, steps)
	}
	lopts := analyze.ListOptions{Roots: opts.paths, Depth: opts.depth, Include: opts.globs, TmpDir: opts.tmpdir}
	fmtCtx.Format = newLsFormat(opts.format)
	w, err := newLsWriter(fmtCtx, opts.human, opts.tree, sel)
	if err != nil {
		return err
	}
	err = analyze.List(ctx, layers, lopts, w.file)
	if cerr := w.close(); err == nil || errors.Is(err, analyze.ErrNotExist) {
		// A missing PATH is reported after the rest is written.
		if cerr != nil {
			return fmt.Errorf("writing output: %w", cerr)
		}
	}
	return err
}
