package wamp_test

import (
	"fmt"

	"portico/router/wamp"
)

func Example() {
	c, batched, ok := wamp.LookupSubprotocol("wamp.2.json")
	if !ok {
		panic("unsupported")
	}
	m, err := c.Decode([]byte(`[48,7814135,{},"com.myapp.add",[2,3],{"bin":"\u0000AQI="}]`))
	if err != nil {
		panic(err)
	}
	call := m.(*wamp.Call)
	fmt.Println(batched, call.Procedure, call.Arguments, call.ArgumentsKw["bin"])

	// Integers stay integers, binary becomes real binary in msgpack.
	b, _ := wamp.MsgPack.Encode(nil, &wamp.Result{Request: call.Request, Arguments: wamp.List{int64(5)}})
	fmt.Printf("%x\n", b)

	_, err = c.Decode([]byte(`[48,7814135,{},5]`))
	fmt.Println(err)
	// Output:
	// false com.myapp.add [2 3] [1 2]
	// 9432ce00773bf7809105
	// CALL: element 3 (procedure): expected string, got int
}

func ExampleSplitBatched() {
	var frame []byte
	for _, m := range []wamp.Message{&wamp.Published{Request: 1, Publication: 2}, &wamp.Goodbye{Reason: "wamp.close.normal"}} {
		b, _ := wamp.JSON.Encode(nil, m)
		frame = wamp.AppendBatched(frame, wamp.JSON, b)
	}
	fmt.Printf("%q\n", frame)
	_ = wamp.SplitBatched(wamp.JSON, frame, func(msg []byte) error {
		m, err := wamp.JSON.Decode(msg)
		fmt.Println(m.Type(), err)
		return err
	})
	// Output:
	// "[17,1,2]\x18[6,{},\"wamp.close.normal\"]\x18"
	// PUBLISHED <nil>
	// GOODBYE <nil>
}
