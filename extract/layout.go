package extract

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
)

// layoutDir is an OCI image layout directory (image-spec image-layout.md):
// oci-layout, index.json and blobs/<alg>/<encoded>. Every file is opened
// through an os.Root, so that a symlink leaving the directory is an error,
// and only when it is first read: a layout may hold many blobs.
type layoutDir struct {
	root  *os.Root
	mu    sync.Mutex
	files map[string]*os.File
}

// OpenLayout opens an OCI image layout directory, such as `skopeo copy …
// oci:DIR` or `docker buildx build --output type=oci,tar=false` write. Its
// images are listed and selected as an archive's are (index.json, with the
// platform selection of opts.Platform, and manifest.json if there is one),
// and its blobs are read in place: an uncompressed layer is its blob file,
// a compressed one is decompressed into the spool when it is requested.
//
// The caller must Close the Archive. On error nothing is left in
// opts.TmpDir.
func OpenLayout(ctx context.Context, dir string, opts Options) (*Archive, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening OCI image layout: %w", err)
	}
	a := &Archive{opts: opts, spool: newSpool(opts), layout: &layoutDir{root: root, files: map[string]*os.File{}}}
	return a.open(ctx, a.layout.index(a))
}

// index lists the files of the layout that images are read from as the
// archive's entries: index.json, oci-layout, manifest.json (a layout that
// `docker save` wrote and someone unpacked) and blobs/<alg>/*. A symlink
// is listed as the file it names inside the directory; one that leads out
// of it, or to nothing, is listed with the error, which is reported when
// the entry is used. Other files are never looked up, and not listed.
func (l *layoutDir) index(a *Archive) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, name := range []string{"index.json", "oci-layout", "manifest.json"} {
			if _, err := l.root.Lstat(name); err == nil {
				l.add(a, name)
			}
		}
		if _, ok := a.entries["index.json"]; !ok {
			if _, ok := a.entries["manifest.json"]; !ok {
				return errorf(ErrInvalid, "not an OCI image layout: %q has no index.json", l.root.Name())
			}
		}
		algs, err := l.readDir("blobs")
		if err != nil {
			return err
		}
		for _, alg := range algs {
			if !alg.IsDir() {
				continue
			}
			blobs, err := l.readDir("blobs/" + alg.Name())
			if err != nil {
				return err
			}
			for _, b := range blobs {
				if err := ctx.Err(); err != nil {
					return err
				}
				if len(a.entries) >= maxEntries {
					return errorf(ErrInvalid, "more than %d files", maxEntries)
				}
				l.add(a, "blobs/"+alg.Name()+"/"+b.Name())
			}
		}
		return nil
	}
}

// readDir lists the directory name of the layout; none when it does not
// exist.
func (l *layoutDir) readDir(name string) ([]fs.DirEntry, error) {
	f, err := l.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errorf(ErrInvalid, "reading OCI image layout: %q: %w", name, unwrapPathError(err))
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, errorf(ErrInvalid, "reading OCI image layout: %q: %w", name, unwrapPathError(err))
	}
	return entries, nil
}

// add lists the file name as an entry, as it is after symlinks inside the
// layout.
func (l *layoutDir) add(a *Archive, name string) {
	e := &entry{name: name, typeflag: tar.TypeReg}
	fi, err := l.root.Stat(name)
	switch {
	case err != nil:
		e.err = errorf(ErrInvalid, "%q: %w", name, unwrapPathError(err))
	case !fi.Mode().IsRegular():
		e.typeflag = tar.TypeDir // resolve refuses anything but a regular file
	default:
		e.size = fi.Size()
	}
	a.entries[name] = e
}

// unwrapPathError drops the *fs.PathError around err, whose path names
// the layout directory's root once more.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// open returns the content of the entry e, opening its file on first use.
func (l *layoutDir) open(e *entry) (*io.SectionReader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.files == nil {
		return nil, errors.New("OCI image layout is closed")
	}
	f, ok := l.files[e.name]
	if !ok {
		var err error
		if f, err = l.root.Open(e.name); err != nil {
			return nil, errorf(ErrInvalid, "%q: %w", e.name, unwrapPathError(err))
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != e.size {
			_ = f.Close()
			return nil, errorf(ErrInvalid, "%q changed while it was read", e.name)
		}
		l.files[e.name] = f
	}
	return io.NewSectionReader(f, 0, e.size), nil
}

func (l *layoutDir) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, f := range l.files {
		errs = append(errs, f.Close())
	}
	l.files = nil
	errs = append(errs, l.root.Close())
	return errors.Join(errs...)
}
