#!/usr/bin/env bash
# sigterm.sh (fault 6): SIGTERM under load, several times. Each time the
# projector must close or roll back the open batch, leave the group and exit
# 0 within 5 s (what a service manager or Kubernetes allows before SIGKILL);
# a restart resumes exactly where the last commit left off, so the final
# state equals the reference run's.
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
fault_up

if [ "$FAULT_FULL" = 1 ]; then STOPS=10 CYCLE_S=10; else STOPS=4 CYCLE_S=7; fi
fault_produce_bg $((STOPS * CYCLE_S))
fault_reference_start # no fault touches PostgreSQL or the broker: it can run alongside

for ((k = 1; k <= STOPS; k++)); do
  fault_start "proj-$k"
  fault_wait_assigned "proj-$k" 60
  # odd stops land while the backlog of the restart is being written, even
  # ones anywhere in the steady stream
  if ((k % 2)); then fault_sleep_ms 100 400; else fault_sleep_ms 400 3000; fi
  fault_loaded "stop $k"
  fault_stop "proj-$k" 5
  fault_injected
  [ "$FAULT_STOP_RC" != 124 ] || fail "stop $k: proj-$k did not exit within 5 s of SIGTERM (SIGKILLed)"
  [ "$FAULT_STOP_RC" = 0 ] || fail "stop $k: proj-$k exited $FAULT_STOP_RC on SIGTERM, not 0"
  grep -q 'signal 15: closing the open batch' "$T/proj-$k.log" || fail "stop $k: no shutdown line in proj-$k.log"
  grep -q 'stopped: ' "$T/proj-$k.log" || fail "stop $k: proj-$k did not log its final counts"
  fault_invariant "after SIGTERM $k"
  fault_say "stop $k: exit 0 in $FAULT_STOP_MS ms; $(grep 'stopped: ' "$T/proj-$k.log" | sed 's/.*stopped: //')"
done

fault_require_load
fault_start proj-final
fault_check sigterm
