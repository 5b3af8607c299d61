package registry

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Error makes an error of go-containerregistry one line that starts with
// what ("image docker://…", "pushing to …"): what the registry said,
// without the request URL's repetition of the reference, and for a 401 the
// docker login that would help (host is the registry).
func Error(what, host string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: unauthorized: authentication required (docker login %s)", what, host)
		case http.StatusForbidden:
			return fmt.Errorf("%s: denied: %s", what, strings.TrimSpace(oneLine(te)))
		case http.StatusNotFound:
			return fmt.Errorf("%s: not found in the registry", what)
		}
	}
	return &lineError{msg: what + ": " + oneLine(RedactURL(err)), err: err}
}

// lineError is an error shown as one line, with its cause kept for
// errors.Is (context.Canceled, say).
type lineError struct {
	msg string
	err error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.err }

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// RedactURL drops the query of the URL in err's *url.Error, if any: a
// blob GET redirected to storage carries a signature there (S3's
// X-Amz-Signature, a SAS token), which must show in no message.
func RedactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && (u.RawQuery != "" || u.User != nil) {
			u.RawQuery, u.User = "", nil
			ue.URL = u.String() + "?…"
		}
	}
	return err
}
