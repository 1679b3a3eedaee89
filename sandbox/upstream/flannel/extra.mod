// The Go module proxy serves no v1.3.79 of this Tencent Cloud SDK module, which flannel's
// tencentvpc backend asks for (a backend the sandbox never uses, but main.go links it);
// v1.3.103 is the nearest served version.
replace github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common => github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common v1.3.103
