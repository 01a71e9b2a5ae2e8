//! Topological order in FATE's layering, and cycle detection with the cycle's path.
//!
//! FATE creates a job's tasks (and the scheduler scans them) in the order networkx's
//! `topological_sort` yields, which is `topological_generations` flattened: first every node
//! without predecessors in insertion order, then, layer by layer, each node of the previous
//! layer releases its successors in the order their edges were first added. Reproducing that
//! exactly keeps our task rows in the order a FATE partner would create them.

/// Nodes are `0..n` in document order; `edges` are `(from, to)` pairs in discovery order
/// (repeats ignored). Returns the node order, or every cycle found, each as a closed path
/// (`[a, b, c, a]`) starting at its earliest node in document order.
pub(super) fn topological_order(
    n: usize,
    edges: &[(usize, usize)],
) -> Result<Vec<usize>, Vec<Vec<usize>>> {
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for &(from, to) in edges {
        if !succ[from].contains(&to) {
            succ[from].push(to);
            indegree[to] += 1;
        }
    }

    let mut order = Vec::with_capacity(n);
    let mut layer: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    while !layer.is_empty() {
        let mut next = Vec::new();
        for &v in &layer {
            for &w in &succ[v] {
                indegree[w] -= 1;
                if indegree[w] == 0 {
                    next.push(w);
                }
            }
        }
        order.extend_from_slice(&layer);
        layer = next;
    }

    if order.len() == n {
        return Ok(order);
    }
    let left: Vec<bool> = (0..n).map(|v| indegree[v] > 0).collect();
    Err(cycles(&succ, &left))
}

/// One cycle per strongly connected component of the nodes Kahn could not place (every
/// such component with an edge inside it holds a cycle; nodes merely downstream of a cycle
/// form trivial components and are not reported).
fn cycles(succ: &[Vec<usize>], left: &[bool]) -> Vec<Vec<usize>> {
    let components = strongly_connected(succ, left);
    let mut found = Vec::new();
    for comp in components {
        let start = *comp.iter().min().expect("components are not empty");
        let inside = |v: usize| comp.contains(&v);
        if comp.len() == 1 && !succ[start].contains(&start) {
            continue;
        }
        found.push(shortest_cycle(succ, start, &inside));
    }
    found.sort_by_key(|c| c[0]);
    found
}

/// Breadth-first from `start` back to itself inside one component, so the reported path is
/// the shortest and deterministic (successors in edge order).
fn shortest_cycle(succ: &[Vec<usize>], start: usize, inside: &dyn Fn(usize) -> bool) -> Vec<usize> {
    let mut parent: Vec<Option<usize>> = vec![None; succ.len()];
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen = vec![false; succ.len()];
    seen[start] = true;
    while let Some(v) = queue.pop_front() {
        for &w in &succ[v] {
            if !inside(w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                while let Some(p) = parent[*path.last().expect("not empty")] {
                    path.push(p);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if !seen[w] {
                seen[w] = true;
                parent[w] = Some(v);
                queue.push_back(w);
            }
        }
    }
    unreachable!("a node of a non-trivial strongly connected component lies on a cycle")
}

/// Tarjan's algorithm (iterative) over the nodes marked `left`.
fn strongly_connected(succ: &[Vec<usize>], left: &[bool]) -> Vec<Vec<usize>> {
    let n = succ.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut out = Vec::new();

    for root in 0..n {
        if !left[root] || index[root] != usize::MAX {
            continue;
        }
        // (node, position in its successor list)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if let Some(&w) = succ[v].get(*pos) {
                *pos += 1;
                if !left[w] {
                    continue;
                }
                if index[w] == usize::MAX {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_come_first_in_document_order() {
        // 0 and 2 are roots; 1 depends on 2.
        assert_eq!(topological_order(3, &[(2, 1)]).unwrap(), [0, 2, 1]);
    }

    #[test]
    fn layers_follow_edge_discovery_order() {
        // Root 0 releases 3 before 1 because that edge was found first; 2 waits for 1.
        let order = topological_order(4, &[(0, 3), (0, 1), (1, 2)]).unwrap();
        assert_eq!(order, [0, 3, 1, 2]);
    }

    #[test]
    fn a_node_waits_for_its_last_producer() {
        // 3 needs 0 (layer 0) and 2 (layer 1): it lands in layer 2, after 1 and 2.
        let order = topological_order(4, &[(0, 3), (0, 1), (1, 2), (2, 3), (0, 2)]).unwrap();
        assert_eq!(order, [0, 1, 2, 3]);
    }

    #[test]
    fn same_as_networkx_on_the_lr_pipeline() {
        // Document order lr_0, psi_0, reader_0 (as the pipeline client writes it).
        let order = topological_order(3, &[(1, 0), (2, 1)]).unwrap();
        assert_eq!(order, [2, 1, 0]);
    }

    #[test]
    fn repeated_edges_count_once() {
        assert_eq!(topological_order(2, &[(0, 1), (0, 1)]).unwrap(), [0, 1]);
    }

    #[test]
    fn empty_graph() {
        assert_eq!(topological_order(0, &[]).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn a_cycle_is_reported_with_its_path() {
        let cycles = topological_order(4, &[(0, 1), (1, 2), (2, 3), (3, 1)]).unwrap_err();
        assert_eq!(cycles, vec![vec![1, 2, 3, 1]]);
    }

    #[test]
    fn a_self_loop_is_a_cycle() {
        assert_eq!(
            topological_order(2, &[(1, 1)]).unwrap_err(),
            vec![vec![1, 1]]
        );
    }

    #[test]
    fn every_independent_cycle_is_reported_once() {
        // Two cycles (0 <-> 1, 2 -> 3 -> 4 -> 2) and a node 5 downstream of one of them.
        let edges = [(0, 1), (1, 0), (2, 3), (3, 4), (4, 2), (4, 5)];
        let cycles = topological_order(6, &edges).unwrap_err();
        assert_eq!(cycles, vec![vec![0, 1, 0], vec![2, 3, 4, 2]]);
    }

    #[test]
    fn the_shortest_cycle_through_the_first_node_is_reported() {
        // 0 -> 1 -> 2 -> 0 and the shortcut 0 -> 2 -> 0.
        let cycles = topological_order(3, &[(0, 1), (1, 2), (2, 0), (0, 2)]).unwrap_err();
        assert_eq!(cycles, vec![vec![0, 2, 0]]);
    }
}
