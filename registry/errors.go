package registry

import (
	"errors"
	"fmt"
	"net/http"
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
	return fmt.Errorf("%s: %s", what, oneLine(err))
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
