package flatten

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

type ruleCase struct {
	name   string
	layers [][]tf
	tars   [][]byte // used instead of layers when set
	keep   bool
	want   []string
	err    error  // for errors.Is
	errHas string // a part of the error message
	warn   string // a part of a warning
}

// W and O are the whiteout prefix and opaque marker, for expected lines.
const (
	W = WhiteoutPrefix
	O = WhiteoutOpaqueDir
)

func ruleCases() []ruleCase {
	return []ruleCase{
		// Names.
		{
			name:   "names are made canonical",
			layers: [][]tf{{dir("./etc/"), reg("/etc/passwd", "root"), reg("etc//group", "g"), dir("usr"), reg("./usr/./bin/../lib.so", "x")}},
			want:   []string{`dir etc/ 0755 0:0`, `reg etc/group 0644 0:0 "g"`, `reg etc/passwd 0644 0:0 "root"`, `dir usr/ 0755 0:0`, `reg usr/lib.so 0644 0:0 "x"`},
		},
		{name: "name climbs out", layers: [][]tf{{reg("a", "")}, {reg("../x", "")}}, err: ErrUnsafePath, errHas: `layer sha256:l1: entry "../x": name climbs out of the root`},
		{name: "name climbs out in the middle", layers: [][]tf{{reg("a/../../x", "")}}, err: ErrUnsafePath, errHas: `layer sha256:l0: entry "a/../../x"`},
		{name: "rooted name climbs out", layers: [][]tf{{reg("/../x", "")}}, err: ErrUnsafePath, errHas: `entry "/../x"`},
		{name: "name resolves to the root", layers: [][]tf{{reg("x/..", "")}}, err: ErrInvalidName, errHas: `entry "x/..": invalid name: names the root`},
		{name: "root directory entry ./ is skipped", layers: [][]tf{{dir("./"), reg("./a", "x")}}, want: []string{"reg a 0644 0:0 \"x\""}},
		{name: "root directory entry / is skipped", layers: [][]tf{{dir("/")}}, want: []string{}},
		{name: "dot name on a file", layers: [][]tf{{reg(".", "x")}}, err: ErrInvalidName},
		{name: "dot name on a symlink", layers: [][]tf{{sym(".", "/etc")}}, err: ErrInvalidName},
		{name: "slash name on a symlink", layers: [][]tf{{sym("/", "/etc")}}, err: ErrInvalidName},
		{name: "empty name", layers: [][]tf{{reg("", "")}}, err: ErrInvalidName, errHas: "empty"},
		{
			name:   "non-UTF-8 names keep their bytes",
			layers: [][]tf{{reg("caf\xe9", "x"), dir("d\xff")}},
			want:   []string{"reg caf\xe9 0644 0:0 \"x\"", "dir d\xff/ 0755 0:0"},
		},

		// Replacement.
		{
			name:   "upper entry replaces lower",
			layers: [][]tf{{reg("a", "old")}, {mode(reg("a", "new"), 0o600)}},
			want:   []string{`reg a 0600 0:0 "new"`},
		},
		{
			name:   "non-directory over directory removes the subtree",
			layers: [][]tf{{dir("d"), reg("d/x", "x"), dir("d/sub"), reg("d/sub/y", "y")}, {reg("d", "file")}},
			want:   []string{`reg d 0644 0:0 "file"`},
		},
		{
			name:   "directory over directory keeps children, takes attributes",
			layers: [][]tf{{mode(dir("d"), 0o700), reg("d/x", "x")}, {owner(mode(dir("d/"), 0o750), 1, 2), reg("d/y", "y")}},
			want:   []string{`dir d/ 0750 1:2`, `reg d/x 0644 0:0 "x"`, `reg d/y 0644 0:0 "y"`},
		},
		{
			name:   "directory over non-directory replaces it",
			layers: [][]tf{{reg("d", "file")}, {dir("d"), reg("d/x", "x")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/x 0644 0:0 "x"`},
		},
		{
			name:   "same path twice in one layer: the last wins",
			layers: [][]tf{{reg("a", "1"), reg("a", "2")}},
			want:   []string{`reg a 0644 0:0 "2"`},
			warn:   `layer sha256:l0: entry "a": the same path twice in one layer`,
		},
		{
			name:   "same directory twice in one layer keeps children",
			layers: [][]tf{{dir("d"), reg("d/x", ""), mode(dir("d"), 0o700)}},
			want:   []string{`dir d/ 0700 0:0`, `reg d/x 0644 0:0 ""`},
			warn:   "the same path twice",
		},

		// Whiteouts.
		{
			name:   "whiteout hides a file",
			layers: [][]tf{{reg("a", "a"), reg("b", "b")}, {wh("a")}},
			want:   []string{`reg b 0644 0:0 "b"`},
		},
		{
			name:   "whiteout hides a subtree",
			layers: [][]tf{{dir("d"), reg("d/x", ""), dir("d/e"), reg("d/e/y", ""), reg("dx", "")}, {wh("d")}},
			want:   []string{`reg dx 0644 0:0 ""`},
		},
		{
			name:   "whiteout before the same name in its layer",
			layers: [][]tf{{reg("a", "old")}, {wh("a"), reg("a", "new")}},
			want:   []string{`reg a 0644 0:0 "new"`},
		},
		{
			name:   "whiteout after the same name in its layer",
			layers: [][]tf{{reg("a", "old")}, {reg("a", "new"), wh("a")}},
			want:   []string{`reg a 0644 0:0 "new"`},
		},
		{
			name:   "whiteout in the bottom layer hides nothing of its layer",
			layers: [][]tf{{reg("a", "x"), wh("a")}},
			want:   []string{`reg a 0644 0:0 "x"`},
		},
		{
			name:   "whiteout of dot",
			layers: [][]tf{{reg("a", "")}, {reg(W+".", "")}},
			err:    ErrInvalidName, errHas: `entry ".wh..": invalid name: whiteout of "."`,
		},
		{
			name:   "whiteout of dotdot",
			layers: [][]tf{{dir("d")}, {reg("d/"+W+"..", "")}},
			err:    ErrUnsafePath, errHas: `entry "d/.wh...": whiteout of ".."`,
		},
		{
			name:   "bare whiteout prefix is ignored",
			layers: [][]tf{{dir("d"), reg("d/x", "")}, {reg("d/"+W, "")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/x 0644 0:0 ""`},
			warn:   "whiteout without a name",
		},
		{
			name:   "opaque lookalike is ignored",
			layers: [][]tf{{dir("d"), reg("d/x", "")}, {reg("d/"+O+"X", "")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/x 0644 0:0 ""`},
		},
		{
			name:   "whiteout prefix on a directory element is literal",
			layers: [][]tf{{reg("etc", "e")}, {reg(W+"etc/file", "f")}},
			want:   []string{`reg .wh.etc/file 0644 0:0 "f"`, `reg etc 0644 0:0 "e"`}, // no entry for the directory: it would be a whiteout
		},
		{
			name:   "delete then recreate a file",
			layers: [][]tf{{reg("a", "1")}, {wh("a")}, {reg("a", "3")}},
			want:   []string{`reg a 0644 0:0 "3"`},
		},
		{
			name:   "delete then recreate a directory",
			layers: [][]tf{{dir("d"), reg("d/x", "")}, {wh("d")}, {dir("d"), reg("d/y", "")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/y 0644 0:0 ""`},
		},
		{
			name:   "whiteout under a missing parent makes nothing",
			layers: [][]tf{{reg("a", "")}, {wh("nodir/ghost")}},
			want:   []string{`reg a 0644 0:0 ""`},
		},
		{
			name:   "whiteout and recreation in one layer",
			layers: [][]tf{{dir("d"), reg("d/x", ""), reg("d/y", "")}, {wh("d"), dir("d"), reg("d/z", "z")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/z 0644 0:0 "z"`},
		},
		{
			name:   "whiteout under a file hides nothing",
			layers: [][]tf{{reg("f", "")}, {wh("f/x")}},
			want:   []string{`reg f 0644 0:0 ""`},
		},

		// Opaque markers.
		{
			name:   "opaque marker before new children",
			layers: [][]tf{{dir("d"), reg("d/old", "")}, {dir("d"), opq("d"), reg("d/new", "n")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/new 0644 0:0 "n"`},
		},
		{
			name:   "opaque marker after new children hides only lower ones",
			layers: [][]tf{{dir("d"), reg("d/old", ""), dir("d/keep"), reg("d/keep/lower", "")}, {dir("d"), reg("d/new", "n"), dir("d/keep"), opq("d")}},
			want:   []string{`dir d/ 0755 0:0`, `dir d/keep/ 0755 0:0`, `reg d/new 0644 0:0 "n"`},
		},
		{
			name:   "opaque marker without its directory entry",
			layers: [][]tf{{mode(dir("d"), 0o711), reg("d/old", "")}, {opq("d"), reg("d/new", "")}},
			want:   []string{`dir d/ 0711 0:0`, `reg d/new 0644 0:0 ""`},
		},
		{
			name:   "opaque marker at the root",
			layers: [][]tf{{reg("a", ""), dir("d"), reg("d/x", "")}, {reg("b", "b"), opq("")}},
			want:   []string{`reg b 0644 0:0 "b"`},
		},
		{
			name:   "opaque marker of a missing directory makes nothing",
			layers: [][]tf{{reg("a", "")}, {opq("nodir")}},
			want:   []string{`reg a 0644 0:0 ""`},
		},

		// Parents.
		{
			name:   "implicit parent keeps the lower directory",
			layers: [][]tf{{owner(mode(dir("ip"), 0o700), 1000, 1000)}, {reg("ip/b", "b")}},
			want:   []string{`dir ip/ 0700 1000:1000`, `reg ip/b 0644 0:0 "b"`},
		},
		{
			name:   "missing parents are synthesized",
			layers: [][]tf{{reg("a/b/c", "c")}},
			want:   []string{`dir a/ 0755 0:0`, `dir a/b/ 0755 0:0`, `reg a/b/c 0644 0:0 "c"`},
		},
		{
			name:   "parent is a file",
			layers: [][]tf{{reg("a", "")}, {reg("a/b", "")}},
			err:    ErrNotDir, errHas: `layer sha256:l1: entry "a/b": parent is not a directory: "a"`,
		},

		// Symlinks.
		{
			name:   "entry below a lower symlink: the symlink becomes a directory, its target untouched",
			layers: [][]tf{{dir("usr"), dir("usr/lib"), reg("usr/lib/y.so", "y"), sym("lib", "usr/lib")}, {reg("lib/x.so", "")}},
			want:   []string{`dir lib/ 0755 0:0`, `reg lib/x.so 0644 0:0 ""`, `dir usr/ 0755 0:0`, `dir usr/lib/ 0755 0:0`, `reg usr/lib/y.so 0644 0:0 "y"`},
		},
		{
			name:   "entry below a lower symlink to the root: nothing escapes",
			layers: [][]tf{{dir("etc"), reg("etc/passwd", "root"), sym("evil", "/")}, {reg("evil/etc/passwd", "evil")}},
			want:   []string{`dir etc/ 0755 0:0`, `reg etc/passwd 0644 0:0 "root"`, `dir evil/ 0755 0:0`, `dir evil/etc/ 0755 0:0`, `reg evil/etc/passwd 0644 0:0 "evil"`},
		},
		{
			name:   "entry below a symlink of the same layer",
			layers: [][]tf{{sym("evil", "/"), reg("evil/etc/passwd", "")}},
			err:    ErrSymlinkParent, errHas: `entry "evil/etc/passwd": path goes through a symlink "evil"`,
		},
		{
			name:   "entry below a lower symlink that the same layer made a symlink again",
			layers: [][]tf{{sym("lib", "usr/lib")}, {sym("lib", "other"), reg("lib/x.so", "")}},
			err:    ErrSymlinkParent, errHas: `layer sha256:l1: entry "lib/x.so": path goes through a symlink "lib"`,
		},
		{
			name:   "whiteout below a symlink",
			layers: [][]tf{{sym("lib", "/usr/lib")}, {wh("lib/x")}},
			err:    ErrSymlinkParent, errHas: `entry "lib/.wh.x"`,
		},
		{
			name:   "symlink replaced by an opaque directory",
			layers: [][]tf{{sym("d", "x")}, {dir("d"), opq("d"), reg("d/f", "")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/f 0644 0:0 ""`},
		},
		{
			name:   "symlink target is copied as is",
			layers: [][]tf{{sym("abs", "/etc/../../x"), sym("rel", "../../up")}},
			want:   []string{`sym abs 0777 0:0 -> /etc/../../x`, `sym rel 0777 0:0 -> ../../up`},
		},

		// Hardlinks.
		{
			name:   "hardlink kept",
			layers: [][]tf{{reg("a", "data"), hl("b", "a")}},
			want:   []string{`reg a 0644 0:0 "data"`, `lnk b 0644 0:0 -> a`},
		},
		{
			name:   "hardlink target deleted above",
			layers: [][]tf{{reg("a", "data"), hl("b", "a")}, {wh("a")}},
			want:   []string{`reg b 0644 0:0 "data"`},
		},
		{
			name:   "hardlink target replaced above",
			layers: [][]tf{{reg("a", "data"), hl("b", "a")}, {reg("a", "new")}},
			want:   []string{`reg a 0644 0:0 "new"`, `reg b 0644 0:0 "data"`},
		},
		{
			name:   "hardlink that sorts before its target swaps with it",
			layers: [][]tf{{mode(reg("z", "data"), 0o755), hl("a", "z")}},
			want:   []string{`reg a 0755 0:0 "data"`, `lnk z 0755 0:0 -> a`},
		},
		{
			name:   "hardlink group survives its target",
			layers: [][]tf{{reg("a", "data"), hl("b", "a"), hl("c", "b")}, {wh("a")}},
			want:   []string{`reg b 0644 0:0 "data"`, `lnk c 0644 0:0 -> b`},
		},
		{
			name:   "hardlink to a lower layer's file",
			layers: [][]tf{{reg("a", "data")}, {hl("b", "/a")}},
			want:   []string{`reg a 0644 0:0 "data"`, `lnk b 0644 0:0 -> a`},
		},
		{
			name:   "hardlink to a file its own layer whites out",
			layers: [][]tf{{reg("a", "data")}, {wh("a"), hl("b", "a")}},
			want:   []string{`reg b 0644 0:0 "data"`},
		},
		{
			name:   "hardlink to a file replaced later in its layer",
			layers: [][]tf{{reg("a", "old")}, {hl("b", "a"), reg("a", "new")}},
			want:   []string{`reg a 0644 0:0 "new"`, `reg b 0644 0:0 "old"`},
		},
		{
			name:   "hardlink to a directory",
			layers: [][]tf{{dir("d"), hl("l", "d")}},
			err:    ErrLinkTarget, errHas: `entry "l": bad hardlink target "d": is a directory`,
		},
		{
			name:   "hardlink to nothing",
			layers: [][]tf{{reg("a", "")}, {hl("l", "nowhere")}},
			err:    ErrLinkTarget, errHas: `layer sha256:l1: entry "l": bad hardlink target "nowhere": does not exist`,
		},
		{
			name:   "hardlink to a symlink",
			layers: [][]tf{{sym("s", "target"), hl("t", "s")}},
			want:   []string{`sym s 0777 0:0 -> target`, `lnk t 0777 0:0 -> s`},
		},
		{
			name:   "hardlink target climbs out",
			layers: [][]tf{{hl("l", "../etc/passwd")}},
			err:    ErrUnsafePath, errHas: `entry "l": hardlink target "../etc/passwd": name climbs out of the root`,
		},
		{
			name:   "hardlink target below a symlink",
			layers: [][]tf{{dir("usr"), reg("usr/f", ""), sym("u", "usr")}, {hl("l", "u/f")}},
			err:    ErrSymlinkParent,
		},
		{
			name: "aufs hardlinks are resolved, aufs metadata dropped",
			layers: [][]tf{{
				dir(WhiteoutLinkDir), reg(WhiteoutLinkDir+"/1234.5", "data"),
				hl("x", WhiteoutLinkDir+"/1234.5"), hl("y", "/"+WhiteoutLinkDir+"/1234.5"),
				reg(WhiteoutMetaPrefix+"aufs", ""), dir(WhiteoutMetaPrefix + "orph"), reg(WhiteoutMetaPrefix+"orph/f", ""),
				reg("d/"+WhiteoutMetaPrefix+"x", ""),
			}},
			want: []string{`reg x 0644 0:0 "data"`, `lnk y 0644 0:0 -> x`},
		},

		// Attributes.
		{
			name: "file types and modes",
			layers: [][]tf{{
				dir("dev"),
				with(reg("dev/null", ""), func(h *tar.Header) { h.Typeflag, h.Mode, h.Devmajor, h.Devminor = tar.TypeChar, 0o666, 1, 3 }),
				with(reg("dev/sda", ""), func(h *tar.Header) { h.Typeflag, h.Mode, h.Devmajor, h.Devminor = tar.TypeBlock, 0o660, 8, 0 }),
				with(reg("dev/fifo", ""), func(h *tar.Header) { h.Typeflag = tar.TypeFifo }),
				mode(reg("suid", "s"), 0o4755), mode(reg("sgid", "g"), 0o2755), mode(dir("tmp"), 0o1777),
			}},
			want: []string{
				`dir dev/ 0755 0:0`, `fifo dev/fifo 0644 0:0`, `chr dev/null 0666 0:0 1,3`, `blk dev/sda 0660 0:0 8,0`,
				`reg sgid 2755 0:0 "g"`, `reg suid 4755 0:0 "s"`, `dir tmp/ 1777 0:0`,
			},
		},
		{
			name: "xattrs and PAX records",
			layers: [][]tf{{with(reg("f", "x"), func(h *tar.Header) {
				h.PAXRecords = map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02", "LIBARCHIVE.creationtime": "1"}
			})}},
			want: []string{`reg f 0644 0:0 "x" LIBARCHIVE.creationtime="1" SCHILY.xattr.security.capability="\x01\x00\x00\x02" SCHILY.xattr.user.k="v"`},
		},

		// Tar level.
		{
			name: "PAX header over 1 MiB",
			tars: [][]byte{append(append(rawPAX('x', "SCHILY.xattr.user.big", strings.Repeat("a", 1<<20)), rawFile("f", "")...), endMarker...)},
			err:  tar.ErrFieldTooLong, errHas: "layer sha256:l0: reading header at offset 0",
		},
		{
			name: "GNU long name over 1 MiB",
			tars: [][]byte{append(append(rawHeader("././@LongLink", 'L', 1<<20+1, true, nil), pad(bytes.Repeat([]byte("n"), 1<<20+1))...), endMarker...)},
			err:  tar.ErrFieldTooLong,
		},
		{
			name: "GNU sparse entry is expanded",
			tars: [][]byte{append(rawSparse("sp", 10, 2, "ab", 7, "xy"), endMarker...)},
			want: []string{`reg sp 0644 0:0 "\x00\x00ab\x00\x00\x00xy\x00"`},
		},
		{
			name: "PAX global header is not copied",
			layers: [][]tf{{
				{h: &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "global", PAXRecords: map[string]string{"comment": "hi"}}},
				reg("a", "x"),
			}},
			want: []string{`reg a 0644 0:0 "x"`},
		},
		{
			name: "header-only types with a size are written with size 0",
			tars: [][]byte{bytes.Join([][]byte{
				rawHeader("d/", '5', 100, false, nil),
				rawHeader("d/s", '2', 7, false, func(b []byte) { copy(b[157:], "t") }),
				rawFile("d/f", "x"), endMarker,
			}, nil)},
			want: []string{`dir d/ 0644 0:0`, `reg d/f 0644 0:0 "x"`, `sym d/s 0644 0:0 -> t`},
		},
		{
			name: "negative size",
			tars: [][]byte{append(rawHeader("f", '0', 0, true, func(b []byte) {
				for i := 124; i < 136; i++ {
					b[i] = 0xff
				}
			}), endMarker...)},
			err: tar.ErrHeader, errHas: "layer sha256:l0: reading header at offset 0",
		},
		{
			name: "bad checksum",
			tars: [][]byte{append(append(rawFile("a", "x"), func() []byte { b := rawFile("b", "y"); b[148] ^= 1; return b }()...), endMarker...)},
			err:  tar.ErrHeader, errHas: `reading header at offset 1024 after entry "a"`,
		},
		{
			name: "truncated mid-entry",
			tars: [][]byte{append(rawFile("a", "x"), rawFile("big", strings.Repeat("b", 1000))[:blockSize+700]...)},
			err:  io.ErrUnexpectedEOF, errHas: `layer sha256:l0: entry "big": reading data: unexpected EOF`,
		},
		{
			name: "trailing garbage after the end marker is ignored",
			tars: [][]byte{append(mkTar(&testing.T{}, reg("a", "x")), "garbage, not a header"...)},
			want: []string{`reg a 0644 0:0 "x"`},
		},
		{
			name: "unsupported entry type",
			tars: [][]byte{append(rawHeader("vol", 'V', 0, true, nil), endMarker...)},
			err:  ErrUnsupportedType, errHas: `entry "vol": unsupported entry type 'V'`,
		},
		{
			name: "device number out of range",
			tars: [][]byte{append(rawHeader("dev/x", '3', 0, true, func(b []byte) {
				copy(b[329:337], []byte{0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff})
			}), endMarker...)},
			errHas: `entry "dev/x": device number 2147483647,0 out of range`,
		},

		// KeepWhiteouts.
		{
			name: "keep: whiteout of a path below the given layers", keep: true,
			layers: [][]tf{{reg("a", "")}, {wh("b")}},
			want:   []string{`reg a 0644 0:0 ""`, `reg .wh.b 0600 0:0 ""`},
		},
		{
			name: "keep: whiteout of a file a given layer created", keep: true,
			layers: [][]tf{{reg("a", "x")}, {wh("a")}},
			want:   []string{`reg .wh.a 0600 0:0 ""`},
		},
		{
			name: "keep: whiteout superseded by a later entry is dropped", keep: true,
			layers: [][]tf{{reg("a", "x")}, {wh("a")}, {reg("a", "y")}},
			want:   []string{`reg a 0644 0:0 "y"`},
		},
		{
			name: "keep: whiteout inside a deleted directory is dropped", keep: true,
			layers: [][]tf{{reg("x", "")}, {wh("d/x")}, {wh("d")}},
			want:   []string{`reg .wh.d 0600 0:0 ""`, `reg x 0644 0:0 ""`},
		},
		{
			name: "keep: opaque marker follows its directory", keep: true,
			layers: [][]tf{{dir("d"), reg("d/x", "")}, {dir("d"), reg("d/y", ""), opq("d")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/.wh..wh..opq 0600 0:0 ""`, `reg d/y 0644 0:0 ""`},
		},
		{
			name: "keep: directory recreated in its whiteout's layer is opaque", keep: true,
			layers: [][]tf{{reg("x", "")}, {wh("d"), dir("d"), reg("d/z", "")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/.wh..wh..opq 0600 0:0 ""`, `reg d/z 0644 0:0 ""`, `reg x 0644 0:0 ""`},
		},
		{
			name: "keep: missing parents are not synthesized", keep: true,
			layers: [][]tf{{reg("a/b", "")}},
			want:   []string{`reg a/b 0644 0:0 ""`},
		},
		{
			name: "keep: whiteout in the bottom layer is kept", keep: true,
			layers: [][]tf{{wh("nodir/ghost"), reg("f", "")}},
			want:   []string{`reg f 0644 0:0 ""`, `reg nodir/.wh.ghost 0600 0:0 ""`},
		},
		{
			name: "keep: opaque marker at the root", keep: true,
			layers: [][]tf{{reg("a", "")}, {opq(""), reg("b", "")}},
			want:   []string{`reg .wh..wh..opq 0600 0:0 ""`, `reg b 0644 0:0 ""`},
		},
		{
			name: "keep: deleted then implicitly recreated directory is synthesized", keep: true,
			layers: [][]tf{{dir("d")}, {wh("d")}, {reg("d/x", "")}},
			want:   []string{`dir d/ 0755 0:0`, `reg d/.wh..wh..opq 0600 0:0 ""`, `reg d/x 0644 0:0 ""`},
		},
		{
			name: "keep: whiteout under a deleted directory adds nothing", keep: true,
			layers: [][]tf{{dir("d")}, {wh("d")}, {wh("d/x")}},
			want:   []string{`reg .wh.d 0600 0:0 ""`},
		},
	}
}

func TestRules(t *testing.T) {
	t.Setenv("TZ", "UTC")
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			tars := tc.tars
			if tars == nil {
				for _, l := range tc.layers {
					tars = append(tars, mkTar(t, l...))
				}
			}
			out, warns, err := run(t, tars, Options{KeepWhiteouts: tc.keep})
			if tc.err != nil || tc.errHas != "" {
				if err == nil {
					t.Fatalf("no error; output:\n\t%s", strings.Join(listing(t, out), "\n\t"))
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Errorf("error %q is not %q", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not contain %q", err, tc.errHas)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error has more than one line: %q", err)
				}
				if le := (*LayerError)(nil); !errors.As(err, &le) {
					t.Errorf("error %q is not a *LayerError", err)
				}
				if bytes.HasSuffix(out, endMarker) {
					t.Errorf("output of a failed run ends with the end marker")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := diffLines(listing(t, out), tc.want); d != "" {
				t.Error(d)
			}
			if tc.warn != "" && !strings.Contains(strings.Join(warns, "\n"), tc.warn) {
				t.Errorf("warnings %q do not contain %q", warns, tc.warn)
			}
			if tc.warn == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
		})
	}
}
