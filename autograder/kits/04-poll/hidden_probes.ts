/**
 * Hidden probes for 04-poll (visibility "after_due_date": Gradescope shows them after the due
 * date; the student release and the student's own grading run without them). Each runs on both
 * engines, like the visible ones.
 *
 * @module
 */
import type { Probe } from "../../kit.ts";
import { hugeOverLimitProbe } from "../_weensydb/hidden_probes.ts";
import { onEachEngine } from "./probes.ts";

/** The hidden probes, once per engine, in the order they run (after the visible ones). */
export const probes: Probe[] = onEachEngine(() => [
  hugeOverLimitProbe("README.md §4 A connection is a state machine"),
]);
