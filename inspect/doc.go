// Package inspect owns an image's layer ancestry: which layers an image is
// made of, bottom first, which history step made each of them, which
// intermediate images (left by the classic builder) end at each layer, and
// how a user's layer spec ("2", "-1", "ab12", "myimg:base", "2:-1")
// resolves to layer indexes.
//
// It reads only image metadata from the Engine API (ImageInspect and
// ImageHistory, through the narrow [Client] interface), never ImageSave, so
// it is instant however large the image is. [FromConfig] builds the same
// ancestry from an image config, for saved archives read without a daemon.
//
// The package knows nothing of cobra or of the docker CLI.
package inspect
