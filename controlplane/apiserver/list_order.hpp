// The order of merged lists, shared by strategic merge patch and server-side apply.
#pragma once

#include <algorithm>
#include <vector>

namespace skiff::apiserver::detail {

// Stable-sorts items by rank (their position in an order list); items without a rank (-1) go last,
// in their current order.
template <class T, class Rank>
void sort_by_rank(std::vector<T>& items, Rank rank) {
    std::stable_sort(items.begin(), items.end(), [&](const T& a, const T& b) {
        long ra = rank(a), rb = rank(b);
        if (ra < 0) return false;
        if (rb < 0) return true;
        return ra < rb;
    });
}

// Weaves server-only items into the patch items, keeping the relative order of both lists: a server
// item goes first only when the live list (server_rank: position there, -1 if absent) had it before
// the next patch item. This is Kubernetes' mergeSortedSlice, so results match kubectl's
// expectations.
template <class T, class Rank>
std::vector<T> weave(std::vector<T> server_only, std::vector<T> patch_items, Rank server_rank) {
    std::vector<T> out;
    out.reserve(server_only.size() + patch_items.size());
    size_t i = 0, j = 0;
    while (i < server_only.size() || j < patch_items.size()) {
        if (j >= patch_items.size()) {
            out.push_back(std::move(server_only[i++]));
        } else if (i >= server_only.size()) {
            out.push_back(std::move(patch_items[j++]));
        } else {
            long li = server_rank(server_only[i]), rj = server_rank(patch_items[j]);
            if (li >= 0 && rj >= 0 && li < rj)
                out.push_back(std::move(server_only[i++]));
            else
                out.push_back(std::move(patch_items[j++]));
        }
    }
    return out;
}

}  // namespace skiff::apiserver::detail
