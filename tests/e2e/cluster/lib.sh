# Helpers shared by tests/e2e/cluster/up.sh and bench/cluster.sh (sourced, not run).

# take_ports VAR...: sets each VAR to a loopback port nobody listens on,
# each different from every port taken before (free_port alone cannot record
# what it hands out: it runs in a subshell).
used_ports=" "
take_ports() {
  local var port
  for var in "$@"; do
    port="$(free_port)" || return 1
    used_ports+="${port} "
    printf -v "${var}" '%s' "${port}"
  done
}

# free_port: a loopback port nobody listens on, not yet in $used_ports.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    [[ "${used_ports}" == *" ${p} "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then
      echo "${p}"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# new_ca CN: a CA key and certificate in ${pki}.
new_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
    -keyout "${pki}/ca.key" -out "${pki}/ca.crt" -subj "/CN=$1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# issue NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA in ${pki}.
issue() {
  local name="$1" subject="$2" ext="$3"
  openssl req -new -newkey rsa:2048 -nodes -keyout "${pki}/${name}.key" \
    -out "${pki}/${name}.csr" -subj "${subject}" 2>/dev/null
  printf '%b\n' "${ext}" > "${pki}/${name}.ext"
  openssl x509 -req -in "${pki}/${name}.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -CAcreateserial -days 30 -sha256 -extfile "${pki}/${name}.ext" \
    -out "${pki}/${name}.crt" 2>/dev/null
}
client_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'

# new_sa_keys: the service-account signing key pair in ${pki}.
new_sa_keys() {
  openssl genrsa -out "${pki}/sa.key" 2048 2>/dev/null
  openssl rsa -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null
}
