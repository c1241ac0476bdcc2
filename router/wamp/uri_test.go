package wamp

import "testing"

func TestCheckURI(t *testing.T) {
	tests := []struct {
		uri                     URI
		strict, loose           bool // allowEmpty false
		strictEmpty, looseEmpty bool // allowEmpty true
	}{
		{"com.myapp.topic1", true, true, true, true},
		{"com.myapp.Topic1", false, true, false, true},
		{"com.my-app.topic", false, true, false, true},
		{"a", true, true, true, true},
		{"a_b.c_9", true, true, true, true},
		{"com..topic", false, false, true, true},
		{"com.myapp.", false, false, true, true},
		{".com", false, false, true, true},
		{"", false, false, true, true},
		{".", false, false, true, true},
		{"com.my app", false, false, false, false},
		{"com.my\tapp", false, false, false, false},
		{"com.my\u00a0app", false, false, false, false}, // Unicode whitespace (\s in the spec's regex)
		{"com.a#b", false, false, false, false},
		{"com.\u00e9t\u00e9", false, true, false, true},
		{"com.\xff", false, false, false, false},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			strict, empty, want bool
		}{{true, false, tt.strict}, {false, false, tt.loose}, {true, true, tt.strictEmpty}, {false, true, tt.looseEmpty}} {
			err := CheckURI(tt.uri, c.strict, c.empty)
			if (err == nil) != c.want {
				t.Errorf("CheckURI(%q, strict=%v, allowEmpty=%v) = %v, want ok=%v", tt.uri, c.strict, c.empty, err, c.want)
			}
		}
	}
}
