// Package extract is the one reader of the formats images are saved in:
// the body of the Engine API ImageSave call, a `docker save` archive (a
// file or standard input), an OCI image layout directory and an OCI
// archive (a tar of a layout).
//
// It owns everything between "images as a daemon or a tool saved them" and
// "verified, uncompressed layer tars on local disk":
//
//   - the three save layouts Docker writes today: the legacy v1.2 layout
//     (Docker ≤ 24: <v1id>/layer.tar, <config>.json, manifest.json), the OCI
//     layout with uncompressed blobs (Docker 25+: blobs/sha256/<diffid>,
//     index.json, manifest.json) and the containerd image store's OCI layout
//     with compressed blobs behind a nested, multi-platform index;
//   - platform selection in multi-platform indexes (attestation manifests are
//     never images);
//   - integrity: every returned layer's uncompressed sha256 equals its diff
//     ID, and a truncated stream, a missing blob or an error the daemon
//     appended to the stream fails with one line naming the entry;
//   - spooling to a private 0700 directory that Close always removes.
//
// It makes no assumption about the order of tar entries, detects
// compression by magic bytes only, never holds a layer in memory, and reads
// JSON documents into memory only up to a hard cap.
//
// Three entry points exist. [FromSaveStream] (and [FromDaemon], which calls
// ImageSave and hands the body to it) knows the wanted diff IDs up front, so
// it spools only what may be wanted and stops reading as soon as every
// wanted layer is in hand. Given the image's diff IDs too
// (Options.ImageDiffIDs), it knows each legacy layer directory from its
// json before the layer.tar arrives (legacy.go), so a layer that is not
// wanted is passed over, neither spooled nor hashed. [OpenArchive] and
// [ReadArchive] open a saved archive whose images are discovered from the
// archive itself: on a seekable, uncompressed file the layers are sections
// of that file and nothing is copied; [OpenLayout] does the same for an OCI
// layout directory, whose blobs are files. [ReadMetadata] reads a save stream
// for its index, manifests and configs only, to learn which platforms an
// image holds and each one's diff IDs without keeping any layer.
//
// With Options.Record, a layer that would be spooled (from a stream, or
// stored compressed in an archive) is kept instead as its
// flatten.Recording, its headers and file digests, made as it streams by:
// all that flatten.Compare needs, and no disk but for a large layer's
// (past 65,536 entries), which the spool closes.
//
// A stream's tar is read by one reader (saveTar), which turns read errors
// and early ends into the daemon's appended error message or ErrTruncated;
// an Archive's index checks the same on the whole file.
//
// Layers are handed out as [flatten.Layer], the type the merge reads.
//
// The package is a library: it imports neither cobra nor docker/cli, and it
// calls one Engine API method through the narrow [Client] interface.
//
// Debug lines go to the logger in the context, containerd/log's
// log.G(ctx), as in source and flatten: the layout found (legacy, OCI,
// the containerd store's compressed blobs; an archive read in place or
// spooled), each layer spooled, read in place, passed over or dropped,
// what decompressed it (Options.GzipProgram, or the built-in
// decoders), and a stream closed before its end.
package extract
