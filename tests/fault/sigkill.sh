#!/usr/bin/env bash
# sigkill.sh (fault 1): the projector is SIGKILLed at random (seeded)
# moments while the scenario streams in, at least 20 times, and restarted
# each time. Rows and offsets commit in one transaction, so whatever the
# moment (filling a batch, mid-transaction, mid-COMMIT, between the commit
# and Kafka's copy of the offsets) the restart resumes at the stored offsets:
# the final state must equal the reference run's, nothing lost, nothing twice.
. "$(dirname "$0")/../integration/harness.sh"
. "$(dirname "$0")/lib.sh"
fault_up

KILLS=${TW_FAULT_KILLS:-20}
# A SIGKILLed member keeps its partitions until its session times out, and
# the devbroker then takes ~11 s to hand them over. The full run restarts
# into the same group, as production would. The short run restarts into a
# fresh group each time (assigned in ~3 s, the devbroker's join delay):
# the fault under test is the projector's state, not group membership
# (group.sh covers that), and 20 kills must fit in ops/test's budget.
if [ "$FAULT_FULL" = 1 ]; then
  SAME_GROUP=1 KILL_MS="200 4000" CYCLE_DS=140 # tenths of a second a kill takes
else
  SAME_GROUP=0 KILL_MS="30 900" CYCLE_DS=36
fi
fault_produce_bg $((KILLS * CYCLE_DS / 10))
fault_reference_start # no fault touches PostgreSQL or the broker: it can run alongside

for ((k = 1; k <= KILLS; k++)); do
  if [ "$SAME_GROUP" = 1 ]; then fault_start "proj-$k"; else fault_start "proj-$k" --set group.id="fault-k$k"; fi
  fault_wait_assigned "proj-$k" 60
  # half of the kills within 300 ms of the assignment, while the backlog
  # that built up during the restart is being written; half anywhere later
  if ((k % 2)); then fault_sleep_ms 0 300; else fault_sleep_ms $KILL_MS; fi
  fault_loaded "kill $k"
  fault_kill "proj-$k" KILL
  fault_injected
  fault_invariant "after kill $k"
done
fault_require_load

fault_start proj-final
fault_check sigkill
