#!/bin/bash
# The Lambda function's bootstrap (packaged as /var/task/bootstrap by lambda.tf).
#
# For every NAME_SECRET variable of the function (HERMES_BEARER_TOKEN_SECRET,
# HERMES_PREVIEW_BEARER_TOKEN_SECRET), reads that Secrets Manager secret once,
# at start, through the AWS Parameters and Secrets Lambda Extension (a layer
# serving the function's secrets on localhost, authenticated by the session
# token), exports its value as NAME, and execs hermes-ingest (/opt/bootstrap,
# cargo lambda's binary in the binary layer). Tokens are never printed.
#
# Plain bash (provided.al2023 has bash, but neither curl nor jq is promised):
# HTTP over /dev/tcp, the value taken from the JSON answer by a pattern that
# refuses any escaped character (bearer tokens have none: no quote, backslash
# or control character), so nothing is mis-decoded.
set -euo pipefail

port="${PARAMETERS_SECRETS_EXTENSION_HTTP_PORT:-2773}"
binary="${HERMES_BINARY:-/opt/bootstrap}"
attempts="${HERMES_SECRET_ATTEMPTS:-50}" # 50 x 0.1 s while the extension starts
status_re='^HTTP/[0-9.]+ ([0-9]{3})'
# the value, only when it holds no quote, backslash (an escape) or control character
value_re='"SecretString": ?"([^"\\[:cntrl:]]*)"'

fail() {
  echo "hermes bootstrap: $*" >&2
  exit 1
}

# get_secret NAME -> the secret's SecretString on stdout
get_secret() {
  local name="$1" i response line status body
  [[ "$name" =~ ^[A-Za-z0-9/_.@-]+$ ]] || fail "secret name '$name' is not one this bootstrap can ask for (letters, digits, /_.@-)"
  for ((i = 1; i <= attempts; i++)); do
    response=""
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET /secretsmanager/get?secretId=%s HTTP/1.0\r\nHost: localhost\r\nX-Aws-Parameters-Secrets-Token: %s\r\n\r\n' \
        "$name" "${AWS_SESSION_TOKEN:-}" >&3
      while IFS= read -r -t 5 line || [[ -n "$line" ]]; do
        response+="$line"$'\n'
      done <&3
      exec 3<&-
      status=""
      if [[ "$response" =~ $status_re ]]; then
        status="${BASH_REMATCH[1]}"
      fi
      if [[ "$status" == 200 ]]; then
        body="${response#*$'\r\n\r\n'}"
        if [[ "$body" =~ $value_re ]]; then
          printf '%s' "${BASH_REMATCH[1]}"
          return 0
        fi
        fail "secret $name: no plain SecretString in the extension's answer (a token may not hold quotes, backslashes or control characters)"
      fi
      # 4xx other than the extension's "not ready yet": the secret is missing,
      # has no value yet, or the role may not read it. Say so without retrying.
      if [[ "$status" =~ ^4 && "$response" != *"not ready"* ]]; then
        fail "secret $name: the extension answered $status (does the secret have a value? put one with aws secretsmanager put-secret-value)"
      fi
    fi
    sleep 0.1
  done
  fail "secret $name: the Parameters and Secrets extension did not answer on port $port (is its layer attached?)"
}

for var in $(compgen -e); do
  if [[ "$var" =~ ^(HERMES_[A-Z_]*BEARER_TOKEN)_SECRET$ ]]; then
    target="${BASH_REMATCH[1]}"
    value="$(get_secret "${!var}")"
    [[ -n "${value//,/}" ]] || fail "secret ${!var} holds no token"
    export "$target=$value"
    unset "$var"
  fi
done

exec "$binary" "$@"
