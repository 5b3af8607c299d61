package flatten

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errOntoKeep: FlattenOnto writes a layer diff, which only KeepWhiteouts
// does.
var errOntoKeep = errors.New("flatten: FlattenOnto needs Options.KeepWhiteouts")

// FlattenOnto is Flatten for an Indexer with Options.KeepWhiteouts whose
// layers sit on lower, the layers below layers[0] (bottom first; none when
// layers starts at the base layer). It writes the minimal squashed layer
// diff: only the whiteouts and opaque markers that hide something in the
// merge of lower, that is a whiteout whose path exists there (as anything,
// a directory included) and an opaque marker whose directory has children
// there. What a lower layer deleted is not in that merge, so a marker
// that hides only it is dropped too. Applied on lower, the output gives
// the same file system as Flatten's output applied on lower, which is
// the merge of lower and layers.
//
// lower is read for headers only, by a Walk of its own (on a goroutine,
// while the range is indexed and written): its paths are streamed in
// output order beside the writing, which is in the same order, so memory
// holds what a Walk holds (a bounded part of the index past
// Options.IndexEntries, spilled to Options.TmpDir) and a few batches of
// paths. A layer of lower that does not merge (see Flatten's errors)
// fails FlattenOnto.
func (x *Indexer) FlattenOnto(w io.Writer, layers, lower []Layer) error {
	if !x.f.keep {
		return errOntoKeep
	}
	lp := walkLower(x.f.ctx, lower, Options{TmpDir: x.f.opts.TmpDir, IndexEntries: x.f.opts.IndexEntries})
	defer lp.close()
	if err := x.finish(layers); err != nil {
		return err
	}
	return x.f.write(x.ix, w, lp)
}

// lowerBatch is a run of lower paths, in output order, or the error
// that ended the walk.
type lowerBatch struct {
	paths []string
	err   error
}

const lowerBatchPaths = 512

// lowerPaths is the merge of the layers below a squashed range, as a
// cursor over its paths in output order (cmpPath), which a Walk on a
// goroutine of its own sends in batches. The writer asks it about the
// markers it writes, in the same order, so the cursor only moves ahead.
type lowerPaths struct {
	batches chan lowerBatch
	cancel  context.CancelFunc
	cur     []string // the paths not consumed of the current batch
	end     bool     // the walk ended: cur is all that is left
	err     error
}

// walkLower starts the walk of lower. The caller must close it.
func walkLower(ctx context.Context, lower []Layer, opts Options) *lowerPaths {
	ctx, cancel := context.WithCancel(ctx)
	lp := &lowerPaths{batches: make(chan lowerBatch, 2), cancel: cancel}
	go func() {
		defer close(lp.batches)
		batch := make([]string, 0, lowerBatchPaths)
		send := func(b lowerBatch) error {
			select {
			case lp.batches <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := Walk(ctx, lower, opts, func(e *Entry) error {
			batch = append(batch, e.Path)
			if len(batch) < lowerBatchPaths {
				return nil
			}
			err := send(lowerBatch{paths: batch})
			batch = make([]string, 0, lowerBatchPaths)
			return err
		})
		if err == nil && len(batch) > 0 {
			err = send(lowerBatch{paths: batch})
		}
		if err != nil {
			_ = send(lowerBatch{err: err})
		}
	}()
	return lp
}

// close stops the walk and waits for its goroutine to end.
func (lp *lowerPaths) close() {
	lp.cancel()
	for range lp.batches {
	}
}

// peek returns the first path not consumed; ok is false at the end.
func (lp *lowerPaths) peek() (p string, ok bool, err error) {
	for len(lp.cur) == 0 {
		if lp.err != nil || lp.end {
			return "", false, lp.err
		}
		b, more := <-lp.batches
		switch {
		case !more:
			lp.end = true
		case b.err != nil:
			lp.err = fmt.Errorf("reading the layers below: %w", b.err)
		default:
			lp.cur = b.paths
		}
	}
	return lp.cur[0], true, nil
}

// seek consumes the paths before p.
func (lp *lowerPaths) seek(p []byte) error {
	for {
		q, ok, err := lp.peek()
		if err != nil || !ok || cmpPath(q, p) >= 0 {
			return err
		}
		lp.cur = lp.cur[1:]
	}
}

// has reports whether p exists below. The writer asks of paths in
// output order only.
func (lp *lowerPaths) has(p []byte) (bool, error) {
	if err := lp.seek(p); err != nil {
		return false, err
	}
	q, ok, err := lp.peek()
	return ok && q == string(p), err
}

// finish consumes the rest of the walk, for its error: lower layers that
// do not merge fail FlattenOnto even where no marker asked about them.
func (lp *lowerPaths) finish() error {
	for {
		if _, ok, err := lp.peek(); err != nil || !ok {
			return err
		}
		lp.cur = nil
	}
}

// hasKids reports whether the directory dir ("" is the root) has
// children below: whether the first path after dir is under it. It
// consumes dir itself, as the writer asks next about paths after it.
func (lp *lowerPaths) hasKids(dir []byte) (bool, error) {
	if err := lp.seek(dir); err != nil {
		return false, err
	}
	q, ok, err := lp.peek()
	if ok && q == string(dir) {
		lp.cur = lp.cur[1:]
		q, ok, err = lp.peek()
	}
	return ok && isAncestor(dir, q), err
}
