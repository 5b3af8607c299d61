package flatten

import (
	"fmt"
	"strconv"
)

// Hand-made tar blocks, for inputs archive/tar's writer will not produce.

func octal(n int64, width int) string { return fmt.Sprintf("%0*o\x00", width-1, n) }

// rawHeader builds a header block. gnu selects the GNU magic.
func rawHeader(name string, typ byte, size int64, gnu bool, fill func(b []byte)) []byte {
	b := make([]byte, blockSize)
	copy(b[0:100], name)
	copy(b[100:108], octal(0o644, 8))
	copy(b[108:116], octal(0, 8))
	copy(b[116:124], octal(0, 8))
	copy(b[124:136], octal(size, 12))
	copy(b[136:148], octal(testTime.Unix(), 12))
	b[156] = typ
	if gnu {
		copy(b[257:265], "ustar  \x00")
	} else {
		copy(b[257:263], "ustar\x00")
		copy(b[263:265], "00")
	}
	if fill != nil {
		fill(b)
	}
	setChecksum(b)
	return b
}

func setChecksum(b []byte) {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:blockSize] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// pad rounds data up to whole blocks.
func pad(data []byte) []byte {
	if r := len(data) % blockSize; r != 0 {
		data = append(data, make([]byte, blockSize-r)...)
	}
	return data
}

// paxRecord formats one PAX record; its length counts itself.
func paxRecord(k, v string) string {
	size := len(k) + len(v) + 3
	size += len(strconv.Itoa(size))
	rec := strconv.Itoa(size) + " " + k + "=" + v + "\n"
	if len(rec) != size {
		size = len(rec)
		rec = strconv.Itoa(size) + " " + k + "=" + v + "\n"
	}
	return rec
}

// rawPAX is a PAX extended header holding records, followed by nothing.
func rawPAX(typ byte, records ...string) []byte {
	var data string
	for i := 0; i+1 < len(records); i += 2 {
		data += paxRecord(records[i], records[i+1])
	}
	b := rawHeader("PaxHeaders/x", typ, int64(len(data)), false, nil)
	return append(b, pad([]byte(data))...)
}

// rawFile is a complete regular file entry.
func rawFile(name, body string) []byte {
	return append(rawHeader(name, '0', int64(len(body)), false, nil), pad([]byte(body))...)
}

// rawSparse is an old GNU sparse entry: fragments are (offset, data)
// pairs, at most four, and realSize the expanded size.
func rawSparse(name string, realSize int64, frags ...any) []byte {
	var data []byte
	hdr := rawHeader(name, 'S', 0, true, func(b []byte) {
		for i := 0; i+1 < len(frags); i += 2 {
			off, d := frags[i].(int), frags[i+1].(string)
			e := 386 + i/2*24
			copy(b[e:e+12], octal(int64(off), 12))
			copy(b[e+12:e+24], octal(int64(len(d)), 12))
			data = append(data, d...)
		}
		copy(b[483:495], octal(realSize, 12))
	})
	copy(hdr[124:136], octal(int64(len(data)), 12))
	setChecksum(hdr)
	return append(hdr, pad(data)...)
}

// endMarker is the two zero blocks that end a tar.
var endMarker = make([]byte, 2*blockSize)
