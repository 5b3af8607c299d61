package registry

import (
	"net/http"
	"testing"

	"gotest.tools/v3/assert"
)

func TestLoopbackHTTP(t *testing.T) {
	for host, ok := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true,
		"10.0.0.5": false, "192.168.1.2": false, "registry.local": false, "example.com": false, "127.0.0.1.example.com": false,
	} {
		assert.Equal(t, isLoopback(host), ok, host)
	}
	req, err := http.NewRequest(http.MethodGet, "http://10.0.0.5:5000/v2/", nil)
	assert.NilError(t, err)
	_, err = loopbackHTTP{http.DefaultTransport}.RoundTrip(req)
	assert.Error(t, err, "refusing plain HTTP to 10.0.0.5:5000: only a registry on localhost or a loopback address is reached without TLS")
}
