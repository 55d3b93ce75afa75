{{- /*
Written by `mpifn chart` from mpifn/helm/; do not edit.

A small kustomize in Go templates: it builds what `kubectl kustomize` builds from the files
under kustomize/, which `mpifn chart` wrote from the kustomizations of deploy/. It does what
those kustomizations use, and fails naming anything else: JSON6902 patches (add, replace,
remove) on the objects a target selects (group, kind, name as an anchored regex,
namespace, labelSelector key=value,...), a Component's resources, and replacements of
whole fields. The helpers change the objects they are given in place.
*/ -}}

{{- /* "true" when the kustomize selector .select selects .object, else "". */ -}}
{{- define "mpifn.selects" -}}
{{- $select := .select -}}
{{- $object := .object -}}
{{- $group := "" -}}
{{- if contains "/" (get $object "apiVersion") -}}
{{- $group = first (splitList "/" (get $object "apiVersion")) -}}
{{- end -}}
{{- $labels := dig "metadata" "labels" dict $object -}}
{{- $ok := true -}}
{{- if and (hasKey $select "group") (ne $select.group $group) -}}{{- $ok = false -}}{{- end -}}
{{- if and (hasKey $select "kind") (ne $select.kind (get $object "kind")) -}}{{- $ok = false -}}{{- end -}}
{{- if and (hasKey $select "name") (not (regexMatch (printf "^(?:%s)$" $select.name) (dig "metadata" "name" "" $object))) -}}
{{- $ok = false -}}
{{- end -}}
{{- if and (hasKey $select "namespace") (ne $select.namespace (dig "metadata" "namespace" "" $object)) -}}
{{- $ok = false -}}
{{- end -}}
{{- range compact (splitList "," (get $select "labelSelector")) -}}
{{- $pair := splitList "=" . -}}
{{- if ne (len $pair) 2 -}}
{{- fail (printf "mpifn chart: labelSelector %q: only key=value terms are supported" $select.labelSelector) -}}
{{- end -}}
{{- if or (not (hasKey $labels (first $pair))) (ne (get $labels (first $pair)) (last $pair)) -}}{{- $ok = false -}}{{- end -}}
{{- end -}}
{{- if $ok -}}true{{- end -}}
{{- end -}}

{{- /* The JSON6902 operation .op applied to .object. */ -}}
{{- define "mpifn.jsonpatch" -}}
{{- $op := .op -}}
{{- $where := printf "%s %s of %s/%s" $op.op $op.path (get .object "kind") (dig "metadata" "name" "" .object) -}}
{{- $segments := list -}}
{{- range rest (splitList "/" $op.path) -}}
{{- $segments = append $segments (. | replace "~1" "/" | replace "~0" "~") -}}
{{- end -}}
{{- $key := last $segments -}}
{{- $parents := initial $segments -}}
{{- $append := eq $key "-" -}}
{{- if $append -}}
{{- $key = last $parents -}}
{{- $parents = initial $parents -}}
{{- end -}}
{{- $node := .object -}}
{{- range $parents -}}
{{- if kindIs "slice" $node -}}
{{- $node = index $node (atoi .) -}}
{{- else if hasKey $node . -}}
{{- $node = get $node . -}}
{{- else -}}
{{- fail (printf "mpifn chart: %s: no %q on the way" $where .) -}}
{{- end -}}
{{- end -}}
{{- if not (kindIs "map" $node) -}}
{{- fail (printf "mpifn chart: %s: only object fields and list ends (/-) are supported" $where) -}}
{{- end -}}
{{- if and $append (eq $op.op "add") -}}
{{- $_ := set $node $key (append (get $node $key) (deepCopy $op.value)) -}}
{{- else if and (not $append) (has $op.op (list "add" "replace")) -}}
{{- $_ := set $node $key (deepCopy $op.value) -}}
{{- else if and (not $append) (eq $op.op "remove") -}}
{{- $_ := unset $node $key -}}
{{- else -}}
{{- fail (printf "mpifn chart: %s: unsupported operation" $where) -}}
{{- end -}}
{{- end -}}

{{- /* The Component .component applied to the list of objects .objects (its own resources
are already among them). */ -}}
{{- define "mpifn.component" -}}
{{- $objects := .objects -}}
{{- range get .component "patches" -}}
{{- $target := .target -}}
{{- $operations := fromYamlArray .patch -}}
{{- range $objects -}}
{{- $object := . -}}
{{- if include "mpifn.selects" (dict "select" $target "object" $object) -}}
{{- range $operations -}}
{{- include "mpifn.jsonpatch" (dict "op" . "object" $object) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range get .component "replacements" -}}
{{- $source := omit .source "fieldPath" -}}
{{- $found := list -}}
{{- range $objects -}}
{{- if include "mpifn.selects" (dict "select" $source "object" .) -}}{{- $found = append $found . -}}{{- end -}}
{{- end -}}
{{- if ne (len $found) 1 -}}
{{- fail (printf "mpifn chart: replacement source %v: %d objects match, not one" $source (len $found)) -}}
{{- end -}}
{{- $value := first $found -}}
{{- range splitList "." .source.fieldPath -}}{{- $value = index $value . -}}{{- end -}}
{{- range .targets -}}
{{- $target := . -}}
{{- range $objects -}}
{{- $object := . -}}
{{- if include "mpifn.selects" (dict "select" $target.select "object" $object) -}}
{{- range $target.fieldPaths -}}
{{- $path := splitList "." . -}}
{{- $node := $object -}}
{{- range initial $path -}}{{- $node = index $node . -}}{{- end -}}
{{- $_ := set $node (last $path) (deepCopy $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
