package commands

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// output is where extract writes: a regular file written atomically (a temp
// file beside it, fsynced, then linked into place), a special file such as
// /dev/null written directly, or stdout.
type output struct {
	w     io.Writer
	file  *os.File // nil for stdout
	tmp   string   // the temp file, for a regular file
	final string
	force bool
	// noUmask gives the file mode 0666, as where there is no umask
	// (umask_other.go): tests set it to check that path on linux.
	noUmask bool
}

// createOutput opens path for writing ("-" or "" is stdout). An existing
// regular file is an error unless force.
//
// For stdout it ignores SIGPIPE: a reader that goes away (| head) then makes
// writes fail with EPIPE instead of killing the process, so that temp files
// are removed and the command exits 141 quietly.
func createOutput(path string, force bool, stdout io.Writer) (*output, error) {
	if path == "" || path == "-" {
		signal.Ignore(syscall.SIGPIPE)
		return &output{w: stdoutFile(stdout)}, nil
	}
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			// A device or a FIFO: there is nothing to replace atomically.
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return nil, err
			}
			return &output{w: f, file: f, final: path}, nil
		}
		if !force {
			return nil, fmt.Errorf("%s already exists; use --force to overwrite it", path)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	return &output{w: f, file: f, tmp: f.Name(), final: path, force: force}, nil
}

// stdoutFile returns os.Stdout itself when stdout is the docker CLI's
// stream for it, so that flatten can have the kernel move file data to it
// (sendfile to a pipe); otherwise stdout.
func stdoutFile(stdout io.Writer) io.Writer {
	if s, ok := stdout.(interface{ FD() uintptr }); ok && s.FD() == os.Stdout.Fd() {
		return os.Stdout
	}
	return stdout
}

// commit makes the written output final.
func (o *output) commit() error {
	if o.file == nil {
		return nil
	}
	if o.tmp == "" {
		return o.file.Close()
	}
	err := o.file.Sync()
	if cerr := o.file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		mode := os.FileMode(0o666)
		if !o.noUmask {
			mode &^= umask()
		}
		if err = os.Chmod(o.tmp, mode); err == nil {
			if o.force {
				err = os.Rename(o.tmp, o.final)
			} else if err = os.Link(o.tmp, o.final); err == nil { // never clobbers
				err = os.Remove(o.tmp)
			} else if errors.Is(err, os.ErrExist) {
				err = fmt.Errorf("%s already exists; use --force to overwrite it", o.final)
			}
		}
	}
	if err != nil {
		_ = os.Remove(o.tmp)
		return fmt.Errorf("writing %s: %w", o.final, err)
	}
	return nil
}

// abort discards what was written to a regular file.
func (o *output) abort() {
	if o.file == nil {
		return
	}
	_ = o.file.Close()
	if o.tmp != "" {
		_ = os.Remove(o.tmp)
	}
}
