package report

import "time"

// Data is what the report shows of one image. It is plain data, and
// encodes to JSON as it is.
type Data struct {
	Image  Image   `json:"image"`
	Layers []Layer `json:"layers"` // bottom (index 0) first
	// Tree is the merged file system by size, a directory's children
	// largest first; nil when it was not gathered.
	Tree *Node `json:"tree,omitempty"`
	// Wasted are the files that the image stores but that a higher layer
	// replaced or deleted, largest first.
	Wasted []Wasted `json:"wasted"`
	// WastedOmitted counts the wasted files left out of Wasted, and
	// WastedOmittedBytes their bytes.
	WastedOmitted      int   `json:"wastedOmitted,omitempty"`
	WastedOmittedBytes int64 `json:"wastedOmittedBytes,omitempty"`
	// Duplicates are groups of files of the merged file system with the
	// same content, largest waste first; nil when they were not looked
	// for, empty when there are none.
	Duplicates []Duplicate `json:"duplicates"`
}

// Image describes the image.
type Image struct {
	Ref      string    `json:"ref"`
	ID       string    `json:"id"`
	Tags     []string  `json:"tags,omitempty"`
	Platform string    `json:"platform,omitempty"` // os/arch[/variant]
	Created  time.Time `json:"created,omitzero"`
	Size     int64     `json:"size"` // the bytes of all its layers' files
	Files    int       `json:"files"`
}

// Layer is one layer of the image and what it changed.
type Layer struct {
	Index     int       `json:"index"`
	DiffID    string    `json:"diffID"`
	Size      int64     `json:"size"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Comment   string    `json:"comment,omitempty"`
	// Added, Changed and Deleted count the layer's changes, and the Bytes
	// fields their sizes, as flatten.LayerSummary does.
	Added        int   `json:"added"`
	Changed      int   `json:"changed"`
	Deleted      int   `json:"deleted"`
	AddedBytes   int64 `json:"addedBytes"`
	ChangedBytes int64 `json:"changedBytes"`
	DeletedBytes int64 `json:"deletedBytes"`
	// Wasted is the bytes of the layer's files that a higher layer
	// replaced or deleted.
	Wasted int64 `json:"wasted"`
	// Changes lists the layer's changes, largest first; nil when they were
	// not gathered. Omitted counts the changes left out of the list, and
	// OmittedBytes their bytes.
	Changes      []Change `json:"changes"`
	Omitted      int      `json:"omitted,omitempty"`
	OmittedBytes int64    `json:"omittedBytes,omitempty"`
}

// Change is one path a layer adds (A), changes (C) or deletes (D).
type Change struct {
	Kind string `json:"kind"` // A, C or D
	Path string `json:"path"` // from the root, with a leading "/"
	Type string `json:"type"` // file, dir, symlink, hardlink, char, block, fifo
	// Size is the bytes the layer stores for the path; for D, the bytes it
	// removes.
	Size int64 `json:"size"`
	// What lists what a C changed: content, mode, owner, type, xattrs.
	What []string `json:"what,omitempty"`
}

// Node is a box of the treemap: a file, a directory, or the rest of a
// directory ("other").
type Node struct {
	Name string `json:"name"` // the last path element; "/" for the root
	Path string `json:"path"` // from the root, with a leading "/"
	Size int64  `json:"size"` // the bytes of the regular files in it
	// Files counts the regular files in it (1 for a file).
	Files int  `json:"files"`
	Dir   bool `json:"dir,omitempty"`
	// Other says the node stands for the rest of its parent's contents:
	// children too small, or below the depth the tree was rolled up to.
	Other bool `json:"other,omitempty"`
	// Layer is the layer the file came from; for a directory, the layer
	// that holds most of its bytes.
	Layer int `json:"layer"`
	// Layers are the bytes of a directory per layer, when known; the
	// tooltip shows them.
	Layers   []LayerBytes `json:"layers,omitempty"`
	Children []*Node      `json:"children,omitempty"`
}

// LayerBytes is the bytes of one layer in a directory.
type LayerBytes struct {
	Layer int   `json:"layer"`
	Bytes int64 `json:"bytes"`
}

// Wasted is a path at which the layers store bytes that the final image
// never shows (analyze.WastedPath).
type Wasted struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`   // the bytes stored at Path and hidden
	Layers []int  `json:"layers"` // every layer that stored a file at Path
	Kind   string `json:"kind"`   // analyze.WastedPath.State: "replaced" or "hidden"
}

// Duplicate is one content that the layers store more than once, at
// several paths or in several layers, shown in the final image or not.
type Duplicate struct {
	Size   int64  `json:"size"`   // of one copy
	Copies int    `json:"copies"` // how many copies are stored
	Files  []Copy `json:"files"`  // where (the page lists the first MaxDupPaths)
}

// Copy is one stored copy of a duplicated content.
type Copy struct {
	Path   string `json:"path"`   // from the root, with a leading "/"
	Layer  int    `json:"layer"`  // the layer that stores it
	Hidden bool   `json:"hidden"` // the final image no longer shows it
}
