package wamp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The validator turns a decoded message list (codec-neutral values) into a Message. Every codec
// shares it, so the three serializers accept and reject exactly the same messages.

type elemKind uint8

const (
	eID     elemKind = iota // an ID in [1, 2^53]
	eReqID                  // a request ID; 0 allowed for router-initiated UNSUBSCRIBED/UNREGISTERED
	eURI                    // a string (URI rules are checked by the router, which knows the match policy)
	eString                 // a string that is not a URI (auth method, signature)
	eDict                   // a dict (Details, Options, Extra)
	eType                   // a message type (ERROR.REQUEST.Type)
	eArgs                   // Arguments|list, or a passthru payload in that place
	eKwargs                 // ArgumentsKw|dict
)

type elem struct {
	name string
	kind elemKind
}

type layout struct {
	elems []elem // after the type code
	min   int    // minimum number of elements after the type code
}

// layouts follows the spec's message definitions ("Message Definitions" and the advanced
// profile sections for CANCEL, INTERRUPT, router-initiated UNSUBSCRIBED/UNREGISTERED).
var layouts = map[MessageType]layout{
	HELLO:          {[]elem{{"realm", eURI}, {"details", eDict}}, 2},
	WELCOME:        {[]elem{{"session", eID}, {"details", eDict}}, 2},
	ABORT:          {[]elem{{"details", eDict}, {"reason", eURI}}, 2},
	CHALLENGE:      {[]elem{{"authmethod", eString}, {"extra", eDict}}, 2},
	AUTHENTICATE:   {[]elem{{"signature", eString}, {"extra", eDict}}, 2},
	GOODBYE:        {[]elem{{"details", eDict}, {"reason", eURI}}, 2},
	ERROR:          {[]elem{{"request_type", eType}, {"request", eID}, {"details", eDict}, {"error", eURI}, {"arguments", eArgs}, {"arguments_kw", eKwargs}}, 4},
	PUBLISH:        {[]elem{{"request", eID}, {"options", eDict}, {"topic", eURI}, {"arguments", eArgs}, {"arguments_kw", eKwargs}}, 3},
	PUBLISHED:      {[]elem{{"request", eID}, {"publication", eID}}, 2},
	SUBSCRIBE:      {[]elem{{"request", eID}, {"options", eDict}, {"topic", eURI}}, 3},
	SUBSCRIBED:     {[]elem{{"request", eID}, {"subscription", eID}}, 2},
	UNSUBSCRIBE:    {[]elem{{"request", eID}, {"subscription", eID}}, 2},
	UNSUBSCRIBED:   {[]elem{{"request", eReqID}, {"details", eDict}}, 1},
	EVENT:          {[]elem{{"subscription", eID}, {"publication", eID}, {"details", eDict}, {"arguments", eArgs}, {"arguments_kw", eKwargs}}, 3},
	CALL:           {[]elem{{"request", eID}, {"options", eDict}, {"procedure", eURI}, {"arguments", eArgs}, {"arguments_kw", eKwargs}}, 3},
	CANCEL:         {[]elem{{"request", eID}, {"options", eDict}}, 2},
	RESULT:         {[]elem{{"request", eID}, {"details", eDict}, {"arguments", eArgs}, {"arguments_kw", eKwargs}}, 2},
	REGISTER:       {[]elem{{"request", eID}, {"options", eDict}, {"procedure", eURI}}, 3},
	REGISTERED:     {[]elem{{"request", eID}, {"registration", eID}}, 2},
	UNREGISTER:     {[]elem{{"request", eID}, {"registration", eID}}, 2},
	UNREGISTERED:   {[]elem{{"request", eReqID}, {"details", eDict}}, 1},
	INVOCATION:     {[]elem{{"request", eID}, {"registration", eID}, {"details", eDict}, {"arguments", eArgs}, {"arguments_kw", eKwargs}}, 3},
	INTERRUPT:      {[]elem{{"request", eID}, {"options", eDict}}, 2},
	YIELD:          {[]elem{{"request", eID}, {"options", eDict}, {"arguments", eArgs}, {"arguments_kw", eKwargs}}, 2},
	EVENT_RECEIVED: {[]elem{{"publication", eID}}, 1},
}

// parts holds the elements of one message as read by the layout, in order of appearance.
type parts struct {
	ids     [2]ID
	nids    int
	dict    Dict
	hasDict bool
	uri     URI
	str     string
	reqType MessageType
	args    List
	kwargs  Dict
	payload []byte
}

// fromList validates a decoded message list and builds the message.
func fromList(l []any) (Message, error) {
	if len(l) == 0 {
		return nil, &DecodeError{Element: -1, Err: errors.New("empty message list")}
	}
	code, ok := asInt(l[0])
	if !ok {
		return nil, &DecodeError{Element: 0, Field: "type", Err: expected("message type (integer)", l[0])}
	}
	t := MessageType(code)
	lay, ok := layouts[t]
	if !ok || int64(t) != code {
		return nil, &DecodeError{Element: 0, Field: "type", Err: fmt.Errorf("unknown message type %d", code)}
	}
	n := len(l) - 1
	if n < lay.min || n > len(lay.elems) {
		want := fmt.Sprintf("%d", lay.min+1)
		if len(lay.elems) != lay.min {
			want = fmt.Sprintf("%d to %d", lay.min+1, len(lay.elems)+1)
		}
		return nil, &DecodeError{Type: t, Element: -1, Err: fmt.Errorf("%d elements, want %s", len(l), want)}
	}
	var p parts
	for i, e := range lay.elems[:n] {
		v := l[i+1]
		var err error
		switch e.kind {
		case eID:
			p.ids[p.nids], err = asID(v)
			p.nids++
		case eReqID:
			// Router-initiated UNSUBSCRIBED/UNREGISTERED carry request 0 with Details (spec
			// "Subscription Revocation", "Registration Revocation").
			if z, ok := asInt(v); ok && z == 0 && n == 2 {
				p.nids++
				break
			}
			p.ids[p.nids], err = asID(v)
			p.nids++
		case eURI:
			s, ok := v.(string)
			if !ok {
				err = expected("string", v)
			}
			p.uri = URI(s)
		case eString:
			s, ok := v.(string)
			if !ok {
				err = expected("string", v)
			}
			p.str = s
		case eDict:
			d, ok := v.(map[string]any)
			if !ok {
				err = expected("dict", v)
			}
			p.dict, p.hasDict = d, true
		case eType:
			c, ok := asInt(v)
			if !ok {
				err = expected("message type (integer)", v)
			} else if !errorRequestType(c) {
				err = fmt.Errorf("%d is not a request type that an ERROR answers", c)
			}
			p.reqType = MessageType(c)
		case eArgs:
			switch a := v.(type) {
			case []any:
				if len(a) > 0 {
					p.args = a
				}
			case []byte, string:
				// Payload passthru: the payload replaces Arguments and ArgumentsKw and is the last
				// element (spec "Payload Passthru Mode"), announced by ppt_scheme (Autobahn:
				// enc_algo) in the Options/Details read before it. JSON carries it as a
				// "\u0000"-prefixed base64 string, which the JSON decoder already turned into
				// []byte; a plain string is accepted as Autobahn does.
				if !passthru(p.dict) {
					err = expected("list", v)
				} else if i+1 != n {
					err = errors.New("payload must be the last element")
				} else if b, ok := a.([]byte); ok {
					p.payload = b
				} else {
					p.payload = []byte(a.(string))
				}
			default:
				err = expected("list", v)
			}
		case eKwargs:
			d, ok := v.(map[string]any)
			if !ok {
				err = expected("dict", v)
			} else if len(d) > 0 {
				p.kwargs = d
			}
		}
		if err != nil {
			return nil, &DecodeError{Type: t, Element: i + 1, Field: e.name, Err: err}
		}
	}
	m := build(t, &p)
	if err := checkOptions(m); err != nil {
		return nil, err
	}
	return m, nil
}

// errorRequestType tells whether an ERROR may answer requests of type c (spec "ERROR": the
// requests that can fail are SUBSCRIBE, UNSUBSCRIBE, PUBLISH, REGISTER, UNREGISTER, CALL and
// INVOCATION; Autobahn refuses any other).
func errorRequestType(c int64) bool {
	switch MessageType(c) {
	case SUBSCRIBE, UNSUBSCRIBE, PUBLISH, REGISTER, UNREGISTER, CALL, INVOCATION:
		return int64(MessageType(c)) == c
	}
	return false
}

// passthru tells whether Options/Details announce a passthru payload. A null scheme is none,
// as checkOptions takes a known key with a null value as absent.
func passthru(d Dict) bool {
	return d["ppt_scheme"] != nil || d["enc_algo"] != nil
}

func build(t MessageType, p *parts) Message {
	switch t {
	case HELLO:
		return &Hello{Realm: p.uri, Details: p.dict}
	case WELCOME:
		return &Welcome{Session: p.ids[0], Details: p.dict}
	case ABORT:
		return &Abort{Details: p.dict, Reason: p.uri}
	case CHALLENGE:
		return &Challenge{AuthMethod: p.str, Extra: p.dict}
	case AUTHENTICATE:
		return &Authenticate{Signature: p.str, Extra: p.dict}
	case GOODBYE:
		return &Goodbye{Details: p.dict, Reason: p.uri}
	case ERROR:
		return &Error{RequestType: p.reqType, Request: p.ids[0], Details: p.dict, Error: p.uri,
			Arguments: p.args, ArgumentsKw: p.kwargs, Payload: p.payload}
	case PUBLISH:
		return &Publish{Request: p.ids[0], Options: p.dict, Topic: p.uri,
			Arguments: p.args, ArgumentsKw: p.kwargs, Payload: p.payload}
	case PUBLISHED:
		return &Published{Request: p.ids[0], Publication: p.ids[1]}
	case SUBSCRIBE:
		return &Subscribe{Request: p.ids[0], Options: p.dict, Topic: p.uri}
	case SUBSCRIBED:
		return &Subscribed{Request: p.ids[0], Subscription: p.ids[1]}
	case UNSUBSCRIBE:
		return &Unsubscribe{Request: p.ids[0], Subscription: p.ids[1]}
	case UNSUBSCRIBED:
		return &Unsubscribed{Request: p.ids[0], Details: p.dict}
	case EVENT:
		return &Event{Subscription: p.ids[0], Publication: p.ids[1], Details: p.dict,
			Arguments: p.args, ArgumentsKw: p.kwargs, Payload: p.payload}
	case CALL:
		return &Call{Request: p.ids[0], Options: p.dict, Procedure: p.uri,
			Arguments: p.args, ArgumentsKw: p.kwargs, Payload: p.payload}
	case CANCEL:
		return &Cancel{Request: p.ids[0], Options: p.dict}
	case RESULT:
		return &Result{Request: p.ids[0], Details: p.dict,
			Arguments: p.args, ArgumentsKw: p.kwargs, Payload: p.payload}
	case REGISTER:
		return &Register{Request: p.ids[0], Options: p.dict, Procedure: p.uri}
	case REGISTERED:
		return &Registered{Request: p.ids[0], Registration: p.ids[1]}
	case UNREGISTER:
		return &Unregister{Request: p.ids[0], Registration: p.ids[1]}
	case UNREGISTERED:
		return &Unregistered{Request: p.ids[0], Details: p.dict}
	case INVOCATION:
		return &Invocation{Request: p.ids[0], Registration: p.ids[1], Details: p.dict,
			Arguments: p.args, ArgumentsKw: p.kwargs, Payload: p.payload}
	case INTERRUPT:
		return &Interrupt{Request: p.ids[0], Options: p.dict}
	case YIELD:
		return &Yield{Request: p.ids[0], Options: p.dict,
			Arguments: p.args, ArgumentsKw: p.kwargs, Payload: p.payload}
	case EVENT_RECEIVED:
		return &EventReceived{Publication: p.ids[0]}
	}
	panic("wamp: build: no case for " + t.String()) // layouts and build list the same types
}

// Option and detail checks. Only the keys the spec defines are checked, and only their types
// and enumerations: unknown keys pass through (custom and future options are allowed). The
// rules follow the spec's advanced profile sections and the testsuite's validation samples.

type optKind uint8

const (
	oBool optKind = iota
	oString
	oID
	oNonNegInt
	oPosInt
	oIDList
	oStringList
	oForwardFor
	oEnum
)

type optRule struct {
	kind   optKind
	values []string // oEnum
}

var (
	// spec "Payload Passthru Mode" (ppt_*) and Autobahn's enc_* names used by the testsuite.
	encAlgos       = []string{"null", "cryptobox", "mqtt", "xbr"}
	encSerializers = []string{"null", "json", "msgpack", "cbor", "ubjson", "opaque", "flatbuffers"}
	pptRules       = map[string]optRule{
		"forward_for":    {kind: oForwardFor},
		"enc_algo":       {kind: oEnum, values: encAlgos},
		"enc_serializer": {kind: oEnum, values: encSerializers},
		"enc_key":        {kind: oString},
		"ppt_scheme":     {kind: oString},
		"ppt_serializer": {kind: oString},
		"ppt_cipher":     {kind: oString},
		"ppt_keyid":      {kind: oString},
	}
)

func rules(extra map[string]optRule) map[string]optRule {
	m := make(map[string]optRule, len(extra)+len(pptRules))
	for k, v := range pptRules {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var matchPolicies = []string{"exact", "prefix", "wildcard"}

var optionRules = map[MessageType]map[string]optRule{
	PUBLISH: rules(map[string]optRule{
		"acknowledge":       {kind: oBool},
		"exclude_me":        {kind: oBool},
		"exclude":           {kind: oIDList},
		"exclude_authid":    {kind: oStringList},
		"exclude_authrole":  {kind: oStringList},
		"eligible":          {kind: oIDList},
		"eligible_authid":   {kind: oStringList},
		"eligible_authrole": {kind: oStringList},
		"retain":            {kind: oBool},
		"disclose_me":       {kind: oBool},
		"transaction_hash":  {kind: oString},
	}),
	SUBSCRIBE: rules(map[string]optRule{
		"match":        {kind: oEnum, values: matchPolicies},
		"get_retained": {kind: oBool},
	}),
	EVENT: rules(map[string]optRule{
		"publisher":               {kind: oID},
		"publisher_authid":        {kind: oString},
		"publisher_authrole":      {kind: oString},
		"topic":                   {kind: oString},
		"retained":                {kind: oBool},
		"transaction_hash":        {kind: oString},
		"x_acknowledged_delivery": {kind: oBool},
	}),
	CALL: rules(map[string]optRule{
		"timeout":          {kind: oNonNegInt},
		"receive_progress": {kind: oBool},
		"disclose_me":      {kind: oBool},
		"progress":         {kind: oBool},
		"transaction_hash": {kind: oString},
	}),
	CANCEL: rules(map[string]optRule{
		"mode": {kind: oEnum, values: []string{"skip", "kill", "killnowait"}},
	}),
	RESULT: rules(map[string]optRule{
		"progress": {kind: oBool},
	}),
	REGISTER: rules(map[string]optRule{
		"match":            {kind: oEnum, values: matchPolicies},
		"invoke":           {kind: oEnum, values: []string{"single", "roundrobin", "random", "first", "last"}},
		"concurrency":      {kind: oPosInt},
		"force_reregister": {kind: oBool},
	}),
	INVOCATION: rules(map[string]optRule{
		"caller":           {kind: oID},
		"caller_authid":    {kind: oString},
		"caller_authrole":  {kind: oString},
		"procedure":        {kind: oString},
		"receive_progress": {kind: oBool},
		"progress":         {kind: oBool},
		"timeout":          {kind: oNonNegInt},
		"transaction_hash": {kind: oString},
	}),
	INTERRUPT: rules(map[string]optRule{
		"mode":   {kind: oEnum, values: []string{"kill", "killnowait"}},
		"reason": {kind: oString},
	}),
	YIELD: rules(map[string]optRule{
		"progress": {kind: oBool},
	}),
	ERROR: rules(nil),
}

// checkOptions checks the typed keys of a message's Options or Details.
func checkOptions(m Message) error {
	var d Dict
	idx, name := 0, ""
	switch x := m.(type) {
	case *Publish:
		d, idx, name = x.Options, 2, "options"
	case *Subscribe:
		d, idx, name = x.Options, 2, "options"
	case *Event:
		d, idx, name = x.Details, 3, "details"
	case *Call:
		d, idx, name = x.Options, 2, "options"
	case *Cancel:
		d, idx, name = x.Options, 2, "options"
	case *Result:
		d, idx, name = x.Details, 2, "details"
	case *Register:
		d, idx, name = x.Options, 2, "options"
	case *Invocation:
		d, idx, name = x.Details, 3, "details"
	case *Interrupt:
		d, idx, name = x.Options, 2, "options"
	case *Yield:
		d, idx, name = x.Options, 2, "options"
	case *Error:
		d, idx, name = x.Details, 3, "details"
	default:
		return nil
	}
	rs := optionRules[m.Type()]
	for k, v := range d {
		r, ok := rs[k]
		if !ok {
			continue
		}
		if v == nil {
			// A known key with a null value is taken as absent. Every option and detail is
			// optional and has a meaning when absent (spec "Message Definitions": Options and
			// Details are dicts of optional keys; "Pattern-based Subscription": no match
			// means exact), and null names no other value of any of these keys, so nothing
			// is guessed. wampy sends JavaScript's undefined for options it leaves unset
			// (SUBSCRIBE {"match": undefined, "get_retained": undefined}): its JSON
			// serializer drops those keys, msgpackr and cbor-x write undefined, which decodes
			// as nil. Deleting the key lets the router read the message as the JSON one.
			// Unknown (custom) keys keep their nulls: their meaning is the application's.
			delete(d, k)
			continue
		}
		if err := r.check(v); err != nil {
			return &DecodeError{Type: m.Type(), Element: idx, Field: name, Err: fmt.Errorf("%q: %w", k, err)}
		}
	}
	return nil
}

func (r optRule) check(v any) error {
	switch r.kind {
	case oBool:
		if _, ok := v.(bool); !ok {
			return expected("bool", v)
		}
	case oString:
		if _, ok := v.(string); !ok {
			return expected("string", v)
		}
	case oID:
		_, err := asID(v)
		return err
	case oNonNegInt, oPosInt:
		n, ok := asInt(v)
		if !ok {
			return expected("integer", v)
		}
		if n < 0 || (r.kind == oPosInt && n == 0) {
			return fmt.Errorf("%d out of range", n)
		}
	case oIDList:
		l, ok := v.([]any)
		if !ok {
			return expected("list of IDs", v)
		}
		for i, e := range l {
			if _, err := asID(e); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
	case oStringList:
		l, ok := v.([]any)
		if !ok {
			return expected("list of strings", v)
		}
		for i, e := range l {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("item %d: %w", i, expected("string", e))
			}
		}
	case oForwardFor:
		// Router-to-router links: a list of {session, authid, authrole} (WEP "R-Links").
		l, ok := v.([]any)
		if !ok {
			return expected("list of dicts", v)
		}
		for i, e := range l {
			hop, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("item %d: %w", i, expected("dict", e))
			}
			if s, ok := hop["session"]; ok {
				if _, err := asID(s); err != nil {
					return fmt.Errorf("item %d: session: %w", i, err)
				}
			}
			for _, k := range [...]string{"authid", "authrole"} {
				if s, ok := hop[k]; ok {
					if _, ok := s.(string); !ok {
						return fmt.Errorf("item %d: %s: %w", i, k, expected("string", s))
					}
				}
			}
		}
	case oEnum:
		s, ok := v.(string)
		if !ok {
			return expected("string", v)
		}
		// Custom values are "x_"-prefixed (spec "Extensibility"), so they pass.
		if !slices.Contains(r.values, s) && !strings.HasPrefix(s, "x_") {
			return fmt.Errorf("%q is not one of %s", s, strings.Join(r.values, ", "))
		}
	}
	return nil
}
