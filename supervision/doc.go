// Package supervision holds the policy of yatagarasu's supervision tree:
// which failures restart an actor (Decide), how many restarts are allowed in
// a window (Budget, Tracker), and the OneForOne strategy that applies both to
// protoactor children. It imports nothing of ours; the tree itself (root →
// bucket supervisors → their children) is spawned in package actors.
//
// Supervision is for broken invariants (a panic in an actor), not for S3
// answering 5xx: those are values that the breaker and retry policy handle.
package supervision
