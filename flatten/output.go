package flatten

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unsafe"
)

// output is the writing end of pass 2, on a goroutine of its own: it
// formats the tar headers and writes them and the file data, while the
// walk of the tree (writer) re-reads the next entries from the layers on
// another core. The walk hands it batches of operations; outBatches
// batches exist, so the walk reads ahead by at most two batches.
type output struct {
	ctx   context.Context
	tw    *tar.Writer
	bw    *bufio.Writer
	sink  *sink
	zc    *os.File // the output, when file data may bypass user space
	zcReg bool     // zc is a regular file
	noZC  atomic.Bool

	cur        *batch // being filled by the walk
	free, full chan *batch
	stop       chan struct{} // closed by abort: return without ending the tar
	done       chan struct{} // closed when the goroutine returns
	err        error         // the goroutine's result, set before done is closed
	ended      bool          // close or abort was called

	name []byte // the name of the entry being written, for errors
	buf  []byte // copy buffer of the writing goroutine, when the kernel cannot copy

	// The entry being written, when quickFormat wrote its header: its
	// data goes straight to bw, and then its padding. Otherwise tw frames
	// it.
	quick     bool
	remaining int64 // data bytes still to write
	pad       int64 // padding after them
	blk       [blockSize]byte

	progress func(WriteProgress) // Options.Progress
	written  WriteProgress
}

const (
	outBatches    = 3
	outBatchOps   = 128
	outBatchBytes = copyBufSize
	outBatchNames = 32 << 10 // room for the names of outBatchOps entries of 256 bytes
	// outMinRead is the least room for file data worth a read into the
	// current batch; with less, the batch is handed over first.
	outMinRead = 4 << 10
)

// batch is a run of operations, with the file data they write back to
// back in data.
type batch struct {
	ops   []outOp
	data  []byte
	names []byte // the names of the headers in ops (output.header)
}

type opKind uint8

const (
	opHeader opKind = iota // write hdr
	opData                 // write data[lo:hi], file data of the last header
	opKernel               // have the kernel copy n bytes of src from off
)

type outOp struct {
	kind   opKind
	hdr    tar.Header
	lo, hi int
	src    *os.File
	off, n int64
}

// errOutputEnded is what the walk sees if it hands over a batch after the
// output stopped without an error of its own; it cannot happen.
var errOutputEnded = errors.New("flatten: output ended early")

// newOutput starts writing a tar stream to out, reporting to progress if
// it is set. With zeroCopy, file data is moved to out by the kernel where
// it can be (zeroCopyOutput).
func newOutput(ctx context.Context, out io.Writer, progress func(WriteProgress), zeroCopy bool) *output {
	bw := bufio.NewWriterSize(out, 64<<10)
	sk := &sink{w: bw}
	o := &output{
		ctx:  ctx,
		tw:   tar.NewWriter(sk),
		bw:   bw,
		sink: sk,
		free: make(chan *batch, outBatches),
		full: make(chan *batch, outBatches),
		stop: make(chan struct{}),
		done: make(chan struct{}),

		progress: progress,
	}
	if zeroCopy {
		o.zc, o.zcReg = zeroCopyOutput(out)
	}
	for range outBatches {
		o.free <- &batch{ops: make([]outOp, 0, outBatchOps), data: make([]byte, 0, outBatchBytes), names: make([]byte, 0, outBatchNames)}
	}
	o.cur = <-o.free
	go o.run()
	return o
}

// header queues a copy of hdr, named name unless name is nil. The copy
// shares hdr's maps, which the caller must not change afterwards.
//
// name is copied into the batch, and the header's Name is a string over
// that copy: no string is allocated for an entry. Such a Name is valid
// only until the batch is written; nothing keeps it (o.name is a copy).
func (o *output) header(hdr *tar.Header, name []byte) error {
	b := o.cur
	if len(b.ops) == cap(b.ops) || len(name) > cap(b.names)-len(b.names) && len(b.names) > 0 {
		if err := o.send(); err != nil {
			return err
		}
		b = o.cur
	}
	b.ops = append(b.ops, outOp{kind: opHeader, hdr: *hdr})
	if name != nil {
		lo := len(b.names)
		b.names = append(b.names, name...)
		b.ops[len(b.ops)-1].hdr.Name = unsafe.String(unsafe.SliceData(b.names[lo:]), len(name))
	}
	return nil
}

// room returns where to read up to want bytes of file data for the last
// header; the caller then calls wrote with what it read there.
func (o *output) room(want int64) ([]byte, error) {
	b := o.cur
	if len(b.ops) == cap(b.ops) || int64(cap(b.data)-len(b.data)) < min(want, outMinRead) {
		if err := o.send(); err != nil {
			return nil, err
		}
		b = o.cur
	}
	free := b.data[len(b.data):cap(b.data)]
	return free[:min(int64(len(free)), want)], nil
}

// wrote queues the n bytes the caller read into room's slice.
func (o *output) wrote(n int) {
	b := o.cur
	lo := len(b.data)
	b.data = b.data[:lo+n]
	if k := len(b.ops) - 1; k >= 0 && b.ops[k].kind == opData && b.ops[k].hi == lo {
		b.ops[k].hi += n
		return
	}
	b.ops = append(b.ops, outOp{kind: opData, lo: lo, hi: lo + n})
}

// zeroCopy returns the output if the kernel may copy file data to it.
func (o *output) zeroCopy() bool { return o.zc != nil && !o.noZC.Load() }

// kernel queues a copy by the kernel of n bytes of src from off, the data
// of the last header.
func (o *output) kernel(src *os.File, off, n int64) error {
	if len(o.cur.ops) == cap(o.cur.ops) {
		if err := o.send(); err != nil {
			return err
		}
	}
	o.cur.ops = append(o.cur.ops, outOp{kind: opKernel, src: src, off: off, n: n})
	return nil
}

// send hands the current batch over and takes a free one.
func (o *output) send() error {
	select {
	case <-o.done:
		return o.result()
	default:
	}
	select {
	case o.full <- o.cur:
	case <-o.done:
		return o.result()
	}
	select {
	case o.cur = <-o.free:
		return nil
	case <-o.done:
		return o.result()
	}
}

func (o *output) result() error {
	if o.err == nil {
		return errOutputEnded
	}
	return o.err
}

// close writes what is queued, ends the tar stream and flushes it.
func (o *output) close() error {
	if o.ended {
		return errOutputEnded
	}
	o.ended = true
	select {
	case o.full <- o.cur:
		close(o.full)
	case <-o.done:
	}
	<-o.done
	return o.err
}

// abort stops the output without ending the tar stream, so that a
// consumer can see it is broken; what is queued may not be written. It
// does nothing after close.
func (o *output) abort() {
	if o.ended {
		return
	}
	o.ended = true
	close(o.stop)
	<-o.done
}

func (o *output) run() {
	defer close(o.done)
	for {
		select {
		case <-o.stop:
			o.err = errOutputEnded
			return
		case b, ok := <-o.full:
			if !ok {
				if o.err = o.end(); o.err == nil && o.progress != nil {
					o.written.Done = true
					o.progress(o.written)
				}
				return
			}
			if o.err = o.write(b); o.err != nil {
				return
			}
			if o.progress != nil {
				o.progress(o.written)
			}
			clear(b.ops) // drop references for the collector
			b.ops, b.data, b.names = b.ops[:0], b.data[:0], b.names[:0]
			o.free <- b // never blocks: there are outBatches batches
		}
	}
}

func (o *output) write(b *batch) error {
	for i := range b.ops {
		op := &b.ops[i]
		var err error
		switch op.kind {
		case opHeader:
			err = o.writeHeader(&op.hdr)
			o.written.Entries++
		case opData:
			err = o.writeData(b.data[op.lo:op.hi])
			o.written.Bytes += int64(op.hi - op.lo)
		case opKernel:
			err = o.copyFile(op.src, op.off, op.n)
			o.written.Bytes += op.n
		}
		if err != nil {
			return fmt.Errorf("writing output: entry %q: %w", o.name, err)
		}
	}
	return nil
}

// writeHeader ends the entry before and writes hdr: a plain header as
// quickFormat makes it, any other through tw.
func (o *output) writeHeader(hdr *tar.Header) error {
	if err := o.endEntry(); err != nil {
		return err
	}
	o.name = append(o.name[:0], hdr.Name...)
	if !quickFormat(hdr, &o.blk) {
		o.quick = false
		return o.tw.WriteHeader(hdr)
	}
	if _, err := o.bw.Write(o.blk[:]); err != nil {
		return err
	}
	o.quick, o.remaining, o.pad = true, 0, 0
	if hdr.Typeflag == tar.TypeReg {
		o.remaining, o.pad = hdr.Size, -hdr.Size&(blockSize-1)
	}
	return nil
}

// endEntry writes the padding of a quick entry, once all its data is
// written, or the padding tw still owes for its entry.
func (o *output) endEntry() error {
	if !o.quick {
		return o.tw.Flush()
	}
	if o.remaining > 0 {
		return fmt.Errorf("%d bytes of file data missing", o.remaining)
	}
	if _, err := o.bw.Write(zeros[:o.pad]); err != nil {
		return err
	}
	o.quick, o.pad = false, 0
	return nil
}

// writeData writes file data of the current entry.
func (o *output) writeData(p []byte) error {
	if !o.quick {
		_, err := o.tw.Write(p)
		return err
	}
	if int64(len(p)) > o.remaining {
		return tar.ErrWriteTooLong
	}
	o.remaining -= int64(len(p))
	_, err := o.bw.Write(p)
	return err
}

// end ends the tar stream and flushes it.
func (o *output) end() error {
	err := o.endEntry()
	if err == nil {
		err = o.tw.Close()
	}
	if err == nil {
		err = o.bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// copyFile writes n bytes of src from off, the data of the entry whose
// header was just written: by the kernel, straight to the output, and
// then the tar writer is fed as many zeros, which the sink drops, so that
// it pads and checks the entry as usual. Where the kernel cannot copy
// between these files, by hand, from then on.
func (o *output) copyFile(src *os.File, off, n int64) error {
	if !o.noZC.Load() {
		if err := o.bw.Flush(); err != nil {
			return err
		}
		if o.quick && n > o.remaining {
			return tar.ErrWriteTooLong
		}
		err := kernelCopy(o.ctx, o.zc, o.zcReg, src, off, n)
		if err == nil {
			kernelCopied.Add(n)
			if o.quick {
				o.remaining -= n
				return nil
			}
			o.sink.discard = true
			defer func() { o.sink.discard = false }()
			for rem := n; rem > 0; {
				k, err := o.tw.Write(zeros[:min(int64(len(zeros)), rem)])
				if err != nil {
					return err
				}
				rem -= int64(k)
			}
			return nil
		}
		if !errors.Is(err, errZeroCopyUnsupported) {
			return err
		}
		o.noZC.Store(true)
	}
	if o.buf == nil {
		o.buf = make([]byte, copyBufSize)
	}
	copied, err := io.CopyBuffer(dataWriter{o}, io.NewSectionReader(src, off, n), o.buf)
	if err == nil && copied < n {
		err = fmt.Errorf("reading data: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// dataWriter writes file data of the output's current entry.
type dataWriter struct{ o *output }

func (w dataWriter) Write(p []byte) (int, error) {
	if err := w.o.writeData(p); err != nil {
		return 0, err
	}
	return len(p), nil
}
