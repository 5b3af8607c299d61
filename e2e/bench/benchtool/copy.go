package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// runCopy writes BYTES of SRC to a new file DST the fastest way the
// kernel can: io.CopyN between two *os.File, which is copy_file_range on
// Linux, the call extract's own output uses. It stands for writing an
// output of BYTES bytes from a stored stream. SRC is copied again from its
// start as often as needed: a stream of compressed layers is smaller than
// the output.
func runCopy(args []string) (err error) {
	if len(args) != 3 {
		return errors.New("usage: benchtool copy SRC DST BYTES")
	}
	n, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("copy: BYTES %q is not a byte count", args[2])
	}
	src, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(args[1])
		}
	}()
	for n > 0 {
		k, err := io.CopyN(dst, src, n)
		n -= k
		switch {
		case err == io.EOF && k > 0:
			if _, err := src.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		case err == io.EOF:
			return fmt.Errorf("copy: %s is empty", args[0])
		case err != nil:
			return fmt.Errorf("copy: %w", err)
		}
	}
	return nil
}
