package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Errors of Open, for errors.Is.
var (
	// ErrNotFound: no file at the path in the merged layers.
	ErrNotFound = errors.New("no such file or directory")
	// ErrIsDir: the path is a directory.
	ErrIsDir = errors.New("is a directory")
	// ErrNotRegular: the path is a device or a FIFO.
	ErrNotRegular = errors.New("not a regular file")
	// ErrSymlinkLoop: resolving the path took more than MaxSymlinks
	// symlinks.
	ErrSymlinkLoop = errors.New("too many levels of symbolic links")
)

// MaxSymlinks is how many symlinks Open follows for one path, as Linux
// does (MAXSYMLINKS).
const MaxSymlinks = 40

// DeletedError is Open's error for a path that a lower given layer had and
// a higher one deleted (with a whiteout or an opaque marker, or by
// replacing a parent with a non-directory). It wraps ErrNotFound.
type DeletedError struct {
	Path  string // the path asked for
	Layer int    // index into the given layers of the layer that deleted it
	ID    string // that layer's ID
}

func (e *DeletedError) Error() string {
	return fmt.Sprintf("%s: deleted by layer %s", e.Path, e.ID)
}

func (e *DeletedError) Unwrap() error { return ErrNotFound }

// File is a regular file that Open found.
type File struct {
	// Path is the canonical path of the file, symlinks resolved.
	Path string
	// Header is the file's header in the layer that holds its data (for
	// a hardlink, its target's).
	Header *tar.Header
	// Layer is the index into the given layers of that layer.
	Layer int
	// Reader reads the file's data: Header.Size bytes.
	io.Reader
}

// Open returns the regular file at name in the merge of layers (layers[0]
// is the bottom), under the same rules as Indexer.Flatten. name is taken
// from the root: a leading "/" is optional and ".." stops at the root.
// Symlinks are resolved inside the image, an absolute target from the
// image's root, up to MaxSymlinks of them; a hardlink gives the data of
// the file it names. It reads the layers' headers and then only the data
// of that file, which the returned File reads from the layer as it is
// read: the layers must stay readable until then.
//
// Errors: ErrIsDir, ErrNotRegular, ErrNotDir (a parent is not a
// directory), ErrSymlinkLoop, a *DeletedError, or ErrNotFound, each in an
// error that names the path; or a *LayerError.
func Open(ctx context.Context, layers []Layer, name string) (*File, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("%q: %w: NUL byte", name, ErrInvalidName)
	}
	f := &flattener{
		ctx:    ctx,
		layers: layers,
		root:   &node{layer: -1, typ: tar.TypeDir},
	}
	r := &resolver{f: f, links: map[ident]string{}}
	prevOK, goneAt := false, -1
	var (
		n   *node
		p   string
		err error
	)
	for li := range layers {
		if err := f.scanLayer(li, &f.scan, nil); err != nil {
			return nil, err
		}
		if err := f.applyLayer(li); err != nil {
			return nil, err
		}
		n, p, err = r.resolve(name)
		var le *LayerError
		if errors.As(err, &le) {
			return nil, err
		}
		ok := err == nil
		if prevOK && !ok {
			goneAt = li
		}
		prevOK = ok
	}
	switch {
	case len(layers) == 0:
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	case err != nil && goneAt >= 0 && errors.Is(err, ErrNotFound):
		return nil, &DeletedError{Path: name, Layer: goneAt, ID: f.layerName(goneAt)}
	case err != nil:
		return nil, fmt.Errorf("%s: %w", name, err)
	case n.typ == tar.TypeDir:
		return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
	case n.typ != tar.TypeReg && n.typ != tar.TypeLink:
		return nil, fmt.Errorf("%s: %w", name, ErrNotRegular)
	}
	id := n.ident()
	hdr, tr, err := f.readHeader(id)
	if err != nil {
		return nil, err
	}
	if typ, _ := normType(hdr.Typeflag); typ != tar.TypeReg {
		return nil, fmt.Errorf("%s: %w", name, ErrNotRegular) // a hardlink to a device or FIFO
	}
	return &File{Path: p, Header: hdr, Layer: int(id.layer), Reader: tr}, nil
}

// resolver follows paths through the merged tree.
type resolver struct {
	f     *flattener
	links map[ident]string // symlink targets read so far
}

// resolve returns the node at name, symlinks followed (the last one too),
// and its canonical path. A missing path is ErrNotFound.
func (r *resolver) resolve(name string) (*node, string, error) {
	var (
		stack []*node // the directories from the root down, without it
		names []string
		hops  int
	)
	rest := strings.Split(name, "/")
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				stack, names = stack[:len(stack)-1], names[:len(names)-1]
			}
			continue
		}
		dir := r.f.root
		if len(stack) > 0 {
			dir = stack[len(stack)-1]
		}
		if dir.typ != tar.TypeDir {
			return nil, "", fmt.Errorf("%w: %q", ErrNotDir, strings.Join(names, "/"))
		}
		c := dir.kids[comp]
		if c == nil || c.typ == typeWhiteout {
			return nil, "", ErrNotFound
		}
		if c.typ == tar.TypeSymlink {
			if hops++; hops > MaxSymlinks {
				return nil, "", ErrSymlinkLoop
			}
			target, err := r.target(c)
			if err != nil {
				return nil, "", err
			}
			if strings.HasPrefix(target, "/") {
				stack, names = stack[:0], names[:0]
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		stack, names = append(stack, c), append(names, comp)
	}
	if len(stack) == 0 {
		return r.f.root, "", nil
	}
	return stack[len(stack)-1], strings.Join(names, "/"), nil
}

// target returns the target of symlink node n.
func (r *resolver) target(n *node) (string, error) {
	id := n.ident()
	if t, ok := r.links[id]; ok {
		return t, nil
	}
	hdr, _, err := r.f.readHeader(id)
	if err != nil {
		return "", err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		return "", r.f.errorf(int(id.layer), hdr.Name, fmt.Errorf("re-reading header at offset %d: type changed", id.off))
	}
	r.links[id] = hdr.Linkname
	return hdr.Linkname, nil
}

// OpenTop is Open over n layers that are costly to get, such as a
// registry's: get(from) returns layers from..n-1, bottom first, and is
// called with a smaller from each time. OpenTop asks for the top layer
// first, then twice as many each time, and stops as soon as the layers it
// has decide name: they hold it as a regular file under its own name, no
// symlink followed, which no lower layer can change (an entry below a
// lower layer's symlink or file makes that a directory). Anything else
// (a symlink on the way, an error, a deleted file) is decided as Open
// decides it, over all n layers. A fault of a layer below those that
// decide name (a bad hardlink, say) is not seen, as the layer is not
// read. File.Layer and DeletedError.Layer index
// the n layers.
func OpenTop(ctx context.Context, n int, get func(from int) ([]Layer, error), name string) (*File, error) {
	want := strings.TrimPrefix(path.Clean("/"+name), "/")
	for k := 1; k < n; k *= 2 {
		from := n - k
		layers, err := get(from)
		if err != nil {
			return nil, err
		}
		// Any error is left to the run over all the layers: a hardlink
		// to a lower layer's file fails here, and is fine there.
		if f, err := Open(ctx, layers, name); err == nil && f.Path == want {
			f.Layer += from
			return f, nil
		}
	}
	layers, err := get(0)
	if err != nil {
		return nil, err
	}
	return Open(ctx, layers, name)
}
