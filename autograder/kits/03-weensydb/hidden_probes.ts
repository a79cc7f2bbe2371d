/**
 * Hidden probes for 03-weensydb (visibility "after_due_date": Gradescope shows them after the
 * due date; the student release and the student's own grading run without them).
 *
 * @module
 */
import type { Probe } from "../../kit.ts";
import { hugeOverLimitProbe } from "../_weensydb/hidden_probes.ts";

/** The hidden probes, in the order they run (after the visible ones). */
export const probes: Probe[] = [hugeOverLimitProbe("README.md §3 Limits")];
