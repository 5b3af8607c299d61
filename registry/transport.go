package registry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// UserAgent is the User-Agent of registry requests; the command sets the
// version.
var UserAgent = "docker-layers"

// certsDirs are where a registry's own CAs and client certificates are
// looked for, in HOST[:PORT] subdirectories, as Docker and skopeo look:
// ca.crt or any *.crt is a CA; NAME.cert with NAME.key is a client
// certificate. The system's CAs (and SSL_CERT_FILE, SSL_CERT_DIR) are
// trusted too.
func certsDirs() []string {
	dirs := []string{"/etc/docker/certs.d", "/etc/containers/certs.d"}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".config", "containers", "certs.d"))
	}
	return dirs
}

// BaseTransport is go-containerregistry's default transport, with the CAs
// and client certificates of the certs.d directories for host and
// UserAgent. It does not authenticate: ggcr's transport.NewWithContext,
// or remote.Write with remote.WithAuth, wraps it.
func BaseTransport(host string) (http.RoundTripper, error) {
	base := remote.DefaultTransport.(*http.Transport).Clone()
	var (
		cas   *x509.CertPool
		certs []tls.Certificate
	)
	for _, dir := range certsDirs() {
		d := filepath.Join(dir, host)
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			path := filepath.Join(d, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				pem, err := os.ReadFile(path)
				if err != nil {
					return nil, fmt.Errorf("registry %s: %w", host, err)
				}
				if cas == nil {
					if cas, err = x509.SystemCertPool(); err != nil {
						cas = x509.NewCertPool()
					}
				}
				if !cas.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("registry %s: %s holds no PEM certificate", host, path)
				}
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(path, ".cert") + ".key"
				c, err := tls.LoadX509KeyPair(path, key)
				if err != nil {
					return nil, fmt.Errorf("registry %s: client certificate %s: %w", host, path, err)
				}
				certs = append(certs, c)
			}
		}
	}
	if cas != nil || certs != nil {
		base.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cas, Certificates: certs}
	}
	return transport.NewUserAgent(loopbackHTTP{base}, UserAgent), nil
}

// Authenticator resolves the credentials kc has for r; a nil kc is
// anonymous access.
func Authenticator(kc authn.Keychain, r authn.Resource) (authn.Authenticator, error) {
	if kc == nil {
		return authn.Anonymous, nil
	}
	auth, err := kc.Resolve(r)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", r.RegistryStr(), err)
	}
	return auth, nil
}

// Retrying is rt with ggcr's retries of transient failures (connection
// errors, 408, 429, 5xx), 3 tries 100 ms apart and more: what
// remote.Get does with a transport it wraps itself.
func Retrying(rt http.RoundTripper) http.RoundTripper {
	return transport.NewRetry(rt, transport.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout))
}

// loopbackHTTP lets plain HTTP through to loopback hosts only
// (localhost, 127.0.0.0/8, ::1), as the Docker daemon's default insecure
// registries: ggcr falls back to HTTP when HTTPS fails for private
// addresses and *.local too, where credentials would then cross a network
// in clear.
type loopbackHTTP struct{ http.RoundTripper }

func (t loopbackHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !isLoopback(r.URL.Hostname()) {
		return nil, fmt.Errorf("refusing plain HTTP to %s: only a registry on localhost or a loopback address is reached without TLS", r.URL.Host)
	}
	return t.RoundTripper.RoundTrip(r)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
