package commands

import (
	"context"
	"fmt"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/source"
	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// imageSourceHelp is the part of a command's help that says where IMAGE
// may come from.
const imageSourceHelp = `IMAGE is an image of the Docker daemon (a name, name:tag or ID), or one
saved elsewhere, named as skopeo names it:
  docker-archive:FILE[:NAME]   a "docker save" archive, compressed or not
                               ("-" reads it from stdin)
  oci:DIR[:NAME]               an OCI image layout directory
  oci-archive:FILE[:NAME]      an OCI image layout in a tar file,
                               compressed or not ("-" reads stdin)
  docker://[REGISTRY/]REPO[:TAG|@DIGEST]
                               an image in a registry, read with no daemon:
                               only the layers the command needs are
                               fetched; credentials as "docker login"
                               stores them
  docker-daemon:NAME           the daemon's image NAME (the same as NAME)
NAME picks one image when the file holds several: a tag, an image ID
prefix, or its name in the layout's index.json (such as "latest"). FILE
and DIR end at the first ":". With --input FILE, DIR or -, IMAGE is just
NAME, and may be left out when there is one image.`

// inputHelp is the help of --input.
const inputHelp = `Read the image from a "docker save" archive, an OCI archive or an OCI layout directory ("-" for stdin) instead of the daemon`

// imageReference is where the image of a command comes from: --input
// (with image selecting in it), else the image argument.
func imageReference(input, image string) (source.Reference, error) {
	if input != "" {
		return source.FromInput(input, image)
	}
	return source.ParseReference(image)
}

// imageArgs requires the IMAGE argument and n-1 more, checks that IMAGE
// is a valid reference and does not name a source beside --input (*input),
// and lets IMAGE be left out with --input (the archive then holds one
// image).
func imageArgs(n int, input *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if *input != "" && len(args) == n-1 {
			return nil
		}
		if err := exactArgs(n)(cmd, args); err != nil {
			return err
		}
		ref, err := source.ParseReference(args[0])
		if err != nil {
			return usageErrorf(cmd, "%v", err)
		}
		if *input != "" && ref.Name != args[0] { // a transport prefix
			return usageErrorf(cmd, "--input %s and %s both name where the image is: give one", *input, args[0])
		}
		return nil
	}
}

// selectLayers opens the image and resolves the layer specs. The caller
// must Close the returned selection, also on error when it is not nil.
func selectLayers(ctx context.Context, dockerCLI command.Cli, input, image string, specs []string, opts source.Options) (*source.Selection, error) {
	ref, err := imageReference(input, image)
	if err != nil {
		return nil, err
	}
	var c source.Client
	if ref.Transport == source.Daemon {
		c = dockerCLI.Client()
	}
	return source.Select(ctx, c, ref, specs, opts)
}

// closeSelection closes sel; it keeps the caller's first error.
func closeSelection(sel *source.Selection, retErr *error) {
	if err := sel.Close(); err != nil && *retErr == nil {
		*retErr = err
	}
}

// sourceOptions are the source.Options of a command's flags: where to
// spool, the platform, the progress display, and the docker CLI's
// registry credentials.
func sourceOptions(dockerCLI command.Cli, tmpdir string, platform *ocispec.Platform, progress func(extract.Progress)) source.Options {
	return source.Options{
		TmpDir:      tmpdir,
		Platform:    platform,
		GzipProgram: gzipProgram(),
		Progress:    progress,
		Keychain:    cliKeychain{dockerCLI},
	}
}

// cliKeychain gives registry credentials as the docker CLI has them: its
// config file (`docker login`, --config, DOCKER_CONFIG) and the credential
// helpers that names, as `docker pull` finds them.
type cliKeychain struct{ dockerCLI command.Cli }

func (k cliKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	key := r.RegistryStr()
	if key == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	ac, err := k.dockerCLI.ConfigFile().GetAuthConfig(key)
	if err != nil {
		return nil, fmt.Errorf("reading the credentials for %s: %w", r.RegistryStr(), err)
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		Auth:          ac.Auth,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}), nil
}
