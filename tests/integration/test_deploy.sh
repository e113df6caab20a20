#!/usr/bin/env bash
# test_deploy.sh - the deployment files, checked offline by scripts/validate-deploy
# (Compose Specification schema, kustomize + kubeconform -strict against the Kubernetes
# schemas, the project's rules), plus: every container runs as a non-root user, no
# secret value is written in the repository's deployment files, and broken copies of
# the manifests are rejected by each validator.
set -uo pipefail
root=${EKKLESIA_TEST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
v=$root/scripts/validate-deploy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
py() { /usr/bin/python3 -c "$@"; }

check "validate-deploy installs its tools (once) and finds everything valid" '"$v" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; false; }'
cat "$tmp/out" >&2
check "docker-compose.yml is valid against the Compose Specification schema" 'grep -q "^ok: compose: docker-compose.yml is valid against the Compose Specification" "$tmp/out"'
check "deploy/k8s renders with kustomize" 'grep -q "^ok: k8s: kustomize .* renders deploy/k8s" "$tmp/out"'
check "every rendered object passes kubeconform -strict" 'grep -Eq "^ok: k8s: kubeconform .*Valid: [1-9][0-9]*, Invalid: 0, Errors: 0, Skipped: 0" "$tmp/out"'
check "the Kubernetes rules hold (securityContext, probes, resources, one producer)" 'grep -q "^ok: k8s: the project.s rules" "$tmp/out"'
check "the Dockerfile rules hold" 'grep -q "^ok: dockerfile:" "$tmp/out"'
if [ -x build/bin/member-consumer ]; then
  check "the runtime image installs every library the programs link" 'grep -Eq "^ok: dockerfile: .*\([1-9][0-9]* linked libraries" "$tmp/out"'
else
  skip "the runtime image installs every library the programs link" "build/bin not built"
fi
if [ -f config/producer.conf ]; then
  check "the configMapGenerator's files all exist (no stand-in used)" '! grep -q "^warning: .*does not exist yet" "$tmp/out"'
else
  skip "the configMapGenerator's files all exist (no stand-in used)" "config/producer.conf not written yet"
fi

start=$SECONDS
"$v" >/dev/null 2>&1; rc=$?
check "a second run needs no network and is fast (<20 s)" '[ "$rc" -eq 0 ] && [ $((SECONDS - start)) -lt 20 ]'

# Non-root everywhere.
check "every compose service runs as a numeric non-root user" 'py "
import yaml, sys
d = yaml.safe_load(open(\"docker-compose.yml\"))
bad = [n for n, s in d[\"services\"].items() if not str(s.get(\"user\", \"\")).split(\":\")[0].isdigit() or int(str(s[\"user\"]).split(\":\")[0]) == 0]
sys.exit(1 if bad else 0)"'
check "the project's compose services have a read-only root file system" 'py "
import yaml, sys
d = yaml.safe_load(open(\"docker-compose.yml\"))
sys.exit(0 if all(d[\"services\"][n].get(\"read_only\") is True for n in (\"producer\", \"consumer\")) else 1)"'
check "the image's last USER is 10001" '[ "$(grep -E "^USER " Dockerfile | tail -1 | cut -d" " -f2 | cut -d: -f1)" = 10001 ]'
"$root/.local/deploy-tools/bin/kustomize" build --load-restrictor LoadRestrictionsNone deploy/k8s >"$tmp/rendered.yaml" 2>/dev/null
check "every Kubernetes container runs as non-root (runAsNonRoot, uid 10001)" 'py "
import yaml, sys
ok = found = 0
for o in yaml.safe_load_all(open(\"$tmp/rendered.yaml\")):
    if not o or o[\"kind\"] not in (\"Deployment\", \"StatefulSet\"): continue
    ps = o[\"spec\"][\"template\"][\"spec\"]
    for c in ps[\"containers\"]:
        found += 1
        sc = dict(ps.get(\"securityContext\") or {}); sc.update(c.get(\"securityContext\") or {})
        ok += sc.get(\"runAsNonRoot\") is True and sc.get(\"runAsUser\") == 10001
sys.exit(0 if found >= 2 and ok == found else 1)"'
check "the producer is one replica with strategy Recreate" 'py "
import yaml, sys
for o in yaml.safe_load_all(open(\"$tmp/rendered.yaml\")):
    if o and o[\"kind\"] == \"Deployment\" and o[\"metadata\"][\"name\"] == \"member-producer\":
        sys.exit(0 if o[\"spec\"][\"replicas\"] == 1 and o[\"spec\"][\"strategy\"][\"type\"] == \"Recreate\" else 1)
sys.exit(1)"'
check "a CronJob re-sends the member and fee tables on 1 January, as the producer, non-root" 'py "
import yaml, sys
for o in yaml.safe_load_all(open(\"$tmp/rendered.yaml\")):
    if o and o[\"kind\"] == \"CronJob\" and o[\"metadata\"][\"name\"] == \"member-new-year-snapshot\":
        ps = o[\"spec\"][\"jobTemplate\"][\"spec\"][\"template\"][\"spec\"]
        cmd = ps[\"containers\"][0][\"command\"]
        sys.exit(0 if o[\"spec\"][\"schedule\"] == \"15 0 1 1 *\" and o[\"spec\"][\"timeZone\"] == \"Etc/UTC\"
                 and cmd[:1] == [\"memberctl\"] and \"--execute\" in cmd
                 and \"public.membership_comrade,public.billing_membershipfee\" in cmd
                 and ps[\"serviceAccountName\"] == \"member-producer\" and ps[\"securityContext\"][\"runAsUser\"] == 10001 else 1)
sys.exit(1)"'
check "consumers get a stable group.instance.id from the pod name" 'grep -A3 "EKKLESIA_KAFKA_GROUP_INSTANCE_ID" "$tmp/rendered.yaml" | grep -q "fieldPath: metadata.name"'

# No secret values in the deployment files.
check "no Secret is rendered by the kustomization" '! grep -q "^kind: Secret" "$tmp/rendered.yaml"'
check "the Secret template holds only REPLACE_ placeholders" 'py "
import yaml, re, sys
docs = [d for d in yaml.safe_load_all(open(\"deploy/k8s/secret.template.yaml\")) if d]
vals = [v for d in docs for v in (d.get(\"stringData\") or {}).values()]
sys.exit(0 if vals and all(re.fullmatch(r\"REPLACE[A-Z_]*\", str(v)) for v in vals) and not any(d.get(\"data\") for d in docs) else 1)"'
check "no password is written in docker-compose.yml" 'py "
import yaml, re, sys
d = yaml.safe_load(open(\"docker-compose.yml\"))
bad = []
for n, s in d[\"services\"].items():
    for k, v in (s.get(\"environment\") or {}).items():
        if re.search(r\"PASSWORD|SECRET|TOKEN\", k) and not (k.endswith(\"_FILE\") and str(v).startswith(\"/run/secrets/\")) \\
           and not re.fullmatch(r\"\\$\\{[A-Z_]+:\\?[^}]*\\}\", str(v)):
            bad.append((n, k))
sys.exit(1 if bad else 0)"'
check "compose passwords come from secret files or a required --env-file variable" 'grep -q "POSTGRES_PASSWORD_FILE: /run/secrets/" docker-compose.yml && grep -Eq "PGPASSWORD: \\$\{[A-Z_]+:\?" docker-compose.yml'
check "no private key or long random-looking string in the deployment files" '! grep -rEl "BEGIN [A-Z ]*PRIVATE KEY|[A-Za-z0-9+/]{40,}={0,2}" Dockerfile docker-compose.yml deploy/ >/dev/null'

# Broken copies are rejected.
mkdir -p "$tmp/bad-k8s" && cp -R deploy/k8s/. "$tmp/bad-k8s/"
sed -i "s/^  replicas: 3$/  replicas: three/; s/^      containers:$/      containerz:/" "$tmp/bad-k8s/consumer.yaml"
"$v" --k8s "$tmp/bad-k8s" >"$tmp/bad-k8s.out" 2>&1; rc=$?
check "a broken StatefulSet copy is rejected by kubeconform" '[ "$rc" -eq 1 ] && grep -q "^FAIL: k8s: kubeconform" "$tmp/bad-k8s.out" && grep -q "StatefulSet member-consumer is invalid" "$tmp/bad-k8s.out"'
check "the broken copy is named with its errors (replicas, unknown field)" 'grep -q "containerz" "$tmp/bad-k8s.out" && grep -q "/spec/replicas" "$tmp/bad-k8s.out"'

mkdir -p "$tmp/root-k8s" && cp -R deploy/k8s/. "$tmp/root-k8s/"
sed -i "/runAsNonRoot: true/d; s/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/" "$tmp/root-k8s/producer.yaml"
"$v" --k8s "$tmp/root-k8s" >"$tmp/root-k8s.out" 2>&1; rc=$?
check "a schema-valid copy that may run as root is rejected by the rules" '[ "$rc" -eq 1 ] && grep -q "^ok: k8s: kubeconform" "$tmp/root-k8s.out" && grep -q "runAsNonRoot: true is missing" "$tmp/root-k8s.out" && grep -q "allowPrivilegeEscalation" "$tmp/root-k8s.out"'

sed "s/^    deploy:$/    deploy:\n      replicaz: 1/; s/^      replicas: 2$/      replicas: two/" docker-compose.yml >"$tmp/bad-compose.yml"
"$v" --compose "$tmp/bad-compose.yml" >"$tmp/bad-compose.out" 2>&1; rc=$?
check "a broken compose copy is rejected by the Compose schema" '[ "$rc" -eq 1 ] && grep -q "^FAIL: compose:" "$tmp/bad-compose.out" && grep -q "schema at /services/consumer/deploy" "$tmp/bad-compose.out"'

sed "s/^      PGPASSWORD: .*/      PGPASSWORD: hunter2/" docker-compose.yml >"$tmp/inline-compose.yml"
"$v" --compose "$tmp/inline-compose.yml" >"$tmp/inline-compose.out" 2>&1; rc=$?
check "an inline password in a compose copy is rejected" '[ "$rc" -eq 1 ] && grep -q "PGPASSWORD has an inline value" "$tmp/inline-compose.out"'

sed "s/^USER 10001:10001$/USER root/" Dockerfile >"$tmp/Dockerfile.root"
"$v" --dockerfile "$tmp/Dockerfile.root" >"$tmp/docker-root.out" 2>&1; rc=$?
check "a Dockerfile copy that runs as root is rejected" '[ "$rc" -eq 1 ] && grep -q "numeric non-root USER" "$tmp/docker-root.out"'

check "usage errors exit 2" '"$v" --bogus >/dev/null 2>&1; [ $? -eq 2 ]'
echo "1..$n"
