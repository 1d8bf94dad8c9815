// A container's root file system from image layers: an overlay mount, or a copy where overlayfs
// is unavailable.
#pragma once

#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::images {

struct RootfsLayers {
    // Unpacked layer snapshots, lowest (base) layer first, as the image lists them.
    std::vector<std::string> layers;
    // The container's own directories: upper (its changes) and work (overlayfs scratch); both are
    // created if missing and must be on the same file system.
    std::string upper, work;
    // The upper dir is never mounted again (skiff removes it with the container): mount with
    // overlayfs's "volatile" (Linux 5.10+; left out where the kernel refuses it), which skips
    // syncing the upper file system. The unmount then costs ~0.2 ms instead of ~4 ms here.
    bool volatile_upper = false;
};

// Mounts an overlay of the layers with the container's upper dir on target (an existing empty
// directory). Any number of layers: the lowerdir list is passed with paths relative to a
// common directory when it would not fit in one page of mount options.
[[nodiscard]] Status mount_overlay(const RootfsLayers& layers, const std::string& target);
// Unmounts target, detached (MNT_DETACH): it leaves the mount table at once and the kernel
// frees the overlay when its last user is gone, so the caller never waits on a dying container's
// mount namespace. Nothing mounted there is not an error.
[[nodiscard]] Status unmount_rootfs(const std::string& target);
// The fallback: copies the layers into target in order, applying whiteouts (a 0/0 character
// device deletes the name below it; trusted.overlay.opaque="y" empties a directory's lower
// content), keeping owners, modes, times, links, devices and xattrs.
[[nodiscard]] Status copy_layers(const RootfsLayers& layers, const std::string& target);
// True when this kernel can mount overlayfs here (overlay listed in /proc/filesystems).
bool overlay_supported();

}  // namespace skiff::images
