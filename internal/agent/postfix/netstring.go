package postfix

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrMalformed is a request that is not a netstring within the size limit;
// the stream cannot be resynchronised after it.
var ErrMalformed = errors.New("malformed netstring")

// readNetstring reads one "len:data," object of at most max data bytes.
func readNetstring(r *bufio.Reader, max int) ([]byte, error) {
	n := 0
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if digits > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ':' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || digits >= 9 || (digits == 1 && n == 0) {
			return nil, fmt.Errorf("%w: bad length", ErrMalformed)
		}
		n = n*10 + int(c-'0')
		digits++
	}
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, n, max)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: short data: %v", ErrMalformed, err)
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("%w: missing comma", ErrMalformed)
	}
	return buf[:n], nil
}

// appendNetstring appends s as a netstring to b.
func appendNetstring(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	b = append(b, s...)
	return append(b, ',')
}
