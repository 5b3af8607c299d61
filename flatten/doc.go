// Package flatten merges an ordered list of image layer tars into one tar
// stream, following the changeset rules of the OCI image specification
// (image-spec layer.md): later layers replace earlier entries, whiteout
// files (".wh.NAME") hide a path and its subtree in lower layers, and
// opaque markers (".wh..wh..opq") hide every lower child of a directory.
//
// The package owns:
//   - the layer rules and the whiteout names (whiteout.go);
//   - the canonical form of entry names and the rejection of unsafe names
//     and links (names.go);
//   - the merge index, a compact tree of the final file system that holds
//     only metadata (layer, header offset, type) and never file contents
//     (scan.go, tree.go), kept whole in memory or as records on disk
//     behind one interface (index.go, buckets.go, spill.go);
//   - writing the merged tree as one deterministic tar stream, with its
//     progress for a display (flatten.go, output.go), its times clamped
//     to a limit where asked (Options.ClampMtime, for SOURCE_DATE_EPOCH),
//     optionally only the paths selected by globs (filter.go), and as a
//     layer diff holding only the markers that hide something in known
//     lower layers (lower.go);
//   - what each layer adds, changes and deletes, the bytes it wastes, and
//     the regular files the layers store with whether the merge still
//     shows them, hashed on demand (changes.go), and finding one file of
//     the merged tree (lookup.go);
//   - the paths in which two merged trees over a shared base differ, merging
//     of the base only what the other layers touch, each tree an index
//     of the Indexer's walked side by side with the other (compare.go),
//     the attributes compared (files.go), and a layer read once as a
//     stream kept as its headers and file digests, in memory or past a
//     bound in unlinked files, which Compare and Changes read in place of
//     the layer (record.go).
//
// It imports neither cobra nor docker/cli and knows nothing of the Docker
// Engine: callers hand it layers as io.ReaderAt (spooled temporary files or
// sections of a saved image archive).
//
// # How it works
//
// Pass 1 reads only the tar headers of each layer, bottom layer first,
// skipping file data by offset, and records the offset of each header.
// Plain USTAR and GNU headers are read without archive/tar, and any other
// by it, with its errors (header.go). For each layer it applies, in this order: opaque markers, whiteout
// files, then the layer's own entries in tar order. The result is a tree of
// the merged file system. An Indexer runs pass 1 while the caller is still
// receiving layers: it reads each layer's headers as soon as the layer is
// added, in any order, and merges the layers bottom first (indexer.go).
// Pass 2 walks that tree depth first, children in byte order of their
// names, so every directory comes before its contents and the output is
// the same for the same input. It re-reads each surviving header at its
// recorded offset, with the file data of small files, and hands them in
// batches to a goroutine that writes them (output.go); the kernel copies
// the data of large files where the output allows it (zerocopy.go). Plain
// headers are written without archive/tar (ustar.go), and names travel in
// the batches as bytes: pass 2 allocates nothing per entry.
//
// Past 16,384 entries (Options.IndexEntries) the Indexer's tree goes to
// disk: the records pass 1 has been spilling to unlinked temporary files
// are cut into ranges of paths in output order, and each range is merged
// and written in turn, with the records that decide its ancestors and
// hardlink targets as context (buckets.go). Pass 1 and pass 2 see only
// the index interface (index.go), whichever of the two holds the tree. Memory then stays the same
// however many files the image has; the output and errors are the same as
// with the whole tree. Changes and Open still hold the whole tree.
//
// # Decisions
//
//   - Symlinks are never followed. An entry below a symlink of a lower
//     layer replaces the symlink with a directory (synthesized, as an
//     implicit parent), as Docker's overlay does: the layer is applied into
//     an empty directory that hides the lower symlink; the link's target is
//     untouched. An entry below a symlink of its own layer, and a whiteout
//     or hardlink target whose parent path goes through a symlink of the
//     merged tree, are errors (ErrSymlinkParent) naming the layer, the entry
//     and the symlink. A whiteout or opaque marker under a path that the
//     same layer replaces with a new entry is not an error: it hides
//     nothing.
//   - A parent that is a regular file (or other non-directory) of the
//     merged tree is an error (ErrNotDir); a whiteout under it hides nothing.
//   - Hardlinks: a hardlink names the file its target was when the link was
//     applied (an earlier entry of the same layer, else the merged lower
//     layers). All surviving names of one file form a group; the group
//     member that comes first in the output is written as the file itself
//     (the target's header and bytes) and every other member as a hardlink
//     to it. So a link whose target was deleted or replaced above it
//     becomes a regular file with the original bytes, and a link that sorts
//     before its target swaps roles with it. Hardlinks in the output always
//     point to an entry written earlier. A hardlink to a directory, or to a
//     path that exists in no layer, is an error (ErrLinkTarget).
//   - aufs metadata (".wh..wh.plnk" and any other ".wh..wh.*" name) is
//     dropped; hardlinks into ".wh..wh.plnk" are resolved to the file there.
//   - A parent directory that no layer defines is written as a synthesized
//     directory (0755, uid/gid 0, mtime 0). An implicit parent over a lower
//     directory keeps the lower directory's attributes.
//   - A directory whose name starts with ".wh." can exist only as the
//     implicit parent of a literal path such as ".wh.etc/file" (the prefix
//     matters only on the last element). It is never written as an entry
//     of its own, which would read as a whiteout.
//   - Entry names of "." or "/" (the root itself) are rejected with
//     ErrInvalidName, as are empty names, names with NUL and names such as
//     "x/.." that resolve to the root.
//
// # KeepWhiteouts
//
// With Options.KeepWhiteouts the output is a squashed layer diff: applying
// it on top of any lower image gives the same file system as applying the
// input layers in order. Whiteouts that are superseded inside the given
// layers (by a later entry at the same path, or by a whiteout or opaque
// marker of a parent) are dropped; every other hiding is kept, written as
// ".wh.NAME" or, for a directory whose lower contents are hidden, as an
// opaque marker right after the directory entry. A whiteout of a path that
// a lower given layer created is kept too: that creation had replaced the
// path in the lower image. Parents that no given layer defines are not
// synthesized in this mode (a synthesized entry would overwrite the lower
// image's directory attributes), except where the lower directory was
// deleted and is recreated, as an extractor would recreate it.
//
// That layer diff holds every marker the layers make, also those that
// hide nothing in the image it is applied on. When that image is known,
// Indexer.FlattenOnto writes the minimal diff for it: a Walk of its layers
// (headers only) streams the paths of their merge in output order beside
// the writer, and a whiteout is written only if its path is there (as
// anything: a whiteout of a directory hides its subtree), an opaque
// marker only if its directory has children there. A path a lower layer
// deleted is not in the merge, so a marker over it is dropped. The writer
// asks in output order, so the cursor only moves ahead, and the lower
// merge costs what a Walk costs: past Options.IndexEntries, a bounded
// part of its index.
//
// Two things a layer diff cannot express are left as they are: a directory
// that the given layers create only implicitly and then empty is not
// written (writing it would overwrite the attributes of the lower image's
// directory of that name; leaving it out only loses an empty directory when
// the lower image has none); and a hardlink to a file below layers[0] is an
// error, as in the default mode (Docker's differs always put the target in
// the same layer).
//
// Debug lines go to the logger in the context, containerd/log's
// log.G(ctx), as in source and extract: the time of pass 1 (of it, the
// time spent reading headers, and how long after the last layer arrived
// it ended) and of pass 2, with its entries, bytes and rate.
package flatten
