#!/usr/bin/env bash
# One support flow through Earshot with nothing but curl, over JSON/HTTP: a
# cry for help ingested by listening, its case found in the case service,
# answered, and the reply read back; a bad request shows its HTTP code and
# the field it names. python3 reads the JSON answers.
#
#   EARSHOT_TOKEN=... scripts/http_flow.sh [LISTENING_URL] [CASE_URL]
#
# Defaults: http://127.0.0.1:8081 and http://127.0.0.1:8082 (`earshot up`).
# Exits 1 on any failure. tests/e2e/tests/http_clients.rs runs it against
# the suite.
set -euo pipefail

listening="${1:-http://127.0.0.1:8081}"
case_url="${2:-http://127.0.0.1:8082}"
: "${EARSHOT_TOKEN:?EARSHOT_TOKEN is not set}"
auth="Authorization: Bearer $EARSHOT_TOKEN"

# The value of a Python expression over the JSON document `d` on stdin.
field() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
fail() { echo "http_flow: $*" >&2; exit 1; }

posted_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
heard="$(curl -sS --fail-with-body -H "$auth" -H 'Content-Type: application/json' \
  --data @- "$listening/v1/mentions:ingest" <<JSON
{"mentions": [{
  "source": "x", "externalId": "curl-1", "channel": "CHANNEL_X", "public": true,
  "author": {"externalId": "curl-author-1", "handle": "curl_jane", "displayName": "Jane"},
  "text": "@acme my new card still has not arrived after two weeks, can you help?",
  "language": "en", "threadKey": "x:curl-1", "postedAt": "$posted_at"
}]}
JSON
)"
[ "$(field 'd["accepted"]' <<<"$heard")" = 1 ] || fail "not accepted: $heard"
mention_id="$(field 'd["results"][0]["mentionId"]' <<<"$heard")"

case_id=""
for _ in $(seq 1 600); do
  listed="$(curl -sS --fail-with-body -H "$auth" "$case_url/v1/cases?page_size=10")"
  case_id="$(field 'd.get("cases", [{}])[0].get("caseId", "")' <<<"$listed")"
  [ -n "$case_id" ] && break
  sleep 0.1
done
[ -n "$case_id" ] || fail "the mention opened no case within a minute"
version="$(field 'd["cases"][0]["version"]' <<<"$listed")"

body="Hi Jane, your card left us on Monday by tracked mail; if it is not with you by Friday we will send another by courier."
sent="$(curl -sS --fail-with-body -H "$auth" -H 'Content-Type: application/json' \
  --data "{\"requestId\": \"curl-reply-1\", \"version\": \"$version\", \"body\": \"$body\", \"public\": true}" \
  "$case_url/v1/cases/$case_id:sendReply")"
reply_id="$(field 'd["reply"]["messageId"]' <<<"$sent")"
messages="$(curl -sS --fail-with-body -H "$auth" "$case_url/v1/cases/$case_id/messages")"
[ "$(field "any(m.get('messageId') == '$reply_id' for m in d['messages'])" <<<"$messages")" = True ] \
  || fail "the reply is not among the case's messages: $messages"

refusal_file="$(mktemp)"
trap 'rm -f "$refusal_file"' EXIT
code="$(curl -sS -o "$refusal_file" -w '%{http_code}' -H "$auth" "$case_url/v1/cases/not-a-uuid")"
refusal="$(cat "$refusal_file")"
[ "$code" = 400 ] || fail "a bad case id answered $code: $refusal"
[ "$(field 'd["details"][0]["fieldViolations"][0]["field"]' <<<"$refusal")" = case_id ] \
  || fail "the refusal names no field: $refusal"
unauthenticated="$(curl -sS -o /dev/null -w '%{http_code}' "$case_url/v1/cases")"
[ "$unauthenticated" = 401 ] || fail "a call without a token answered $unauthenticated"

echo "curl: mention $mention_id opened case $case_id; reply $reply_id read back;" \
  "a bad case id is HTTP 400 naming case_id; no token is HTTP 401"
