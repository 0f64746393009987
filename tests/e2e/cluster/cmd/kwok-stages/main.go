// Command kwok-stages prints the default kwok Stage configuration (the same
// stages `kwokctl` configures) as one multi-document YAML stream, taken from
// the pinned sigs.k8s.io/kwok module so it always matches the kwok binary.
//
// The standalone kwok controller ships no stages of its own; without them it
// would neither mark nodes Ready nor move pods to Running or remove deleted
// pods.
package main

import (
	"fmt"
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeatwithlease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

func main() {
	docs := []string{
		nodefast.DefaultNodeInit,
		nodeheartbeatwithlease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for i, d := range docs {
		if i > 0 {
			fmt.Println("---")
		}
		fmt.Println(strings.TrimSpace(d))
	}
}
