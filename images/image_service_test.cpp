// End-to-end tests of pulling into the store from a real docker-registry, and removing again.
#include "skiff/images/image_service.hpp"

#include "test_registry.hpp"

namespace skiff::images {
namespace {

using namespace test_support;

class ImageServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(registry_.ok()) << "the registry fixture did not start";
        RegistryClient client(plain(registry_.address()));
        image_ = make_image(dir_.path(), "hello from the layer");
        push_image(client, "team/app", "v1", image_);
        auto svc = ImageService::open(dir_.path() + "/store", StoreOptions{false});
        ASSERT_TRUE(svc.ok()) << svc.error().what();
        service_.emplace(std::move(*svc));
        options_.plain_http = true;
        options_.platform = Platform{"amd64", "linux", "", "", {}};
    }
    std::string ref(const std::string& tag = "v1") const {
        return registry_.address() + "/team/app:" + tag;
    }

    TempDir dir_;
    Registry registry_;
    TestImage image_;
    std::optional<ImageService> service_;
    PullOptions options_;
};

TEST_F(ImageServiceTest, PullUnpacksTheLayersAndASecondPullDownloadsNothing) {
    auto pulled = service_->pull(ref(), options_);
    ASSERT_TRUE(pulled.ok()) << pulled.error().what();
    EXPECT_FALSE(pulled->already_present);
    EXPECT_EQ(pulled->layers_downloaded, 1u);
    ASSERT_EQ(pulled->image.layers.size(), 1u);
    EXPECT_EQ(read(pulled->image.layers[0] + "/etc/message"), "hello from the layer");
    EXPECT_EQ(pulled->image.config.config.cmd, (std::vector<std::string>{"/bin/sh"}));
    EXPECT_EQ(pulled->image.digest, sha256_of(image_.manifest));

    auto again = service_->pull(ref(), options_);
    ASSERT_TRUE(again.ok()) << again.error().what();
    EXPECT_TRUE(again->already_present);
    EXPECT_EQ(again->layers_downloaded, 0u);

    auto local = service_->get(ref());
    ASSERT_TRUE(local.ok()) << local.error().what();
    EXPECT_EQ(local->layers, pulled->image.layers);
    auto all = service_->list();
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].name, ref());
}

TEST_F(ImageServiceTest, ATamperedLayerFailsThePullAndLeavesNoImage) {
    // Overwrite the layer's bytes inside the registry's own storage.
    write(registry_.blob_data(image_.layer.digest), "not the layer any more");
    auto pulled = service_->pull(ref(), options_);
    ASSERT_FALSE(pulled.ok());
    EXPECT_NE(pulled.error().message().find(ref()), std::string::npos) << pulled.error().what();
    EXPECT_FALSE(service_->get(ref()).ok());
    EXPECT_FALSE(service_->store().has_blob(image_.layer.digest));
}

TEST_F(ImageServiceTest, UnknownTagAndRegistryDownNameTheImage) {
    auto missing = service_->pull(ref("nope"), options_);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("not found"), std::string::npos)
        << missing.error().what();
    registry_.stop();
    auto down = service_->pull(ref(), options_);
    ASSERT_FALSE(down.ok());
    EXPECT_NE(down.error().message().find(ref()), std::string::npos) << down.error().what();
    EXPECT_NE(down.error().message().find("not reachable"), std::string::npos)
        << down.error().what();
}

TEST_F(ImageServiceTest, TagRemoveAndPrune) {
    auto pulled = service_->pull(ref(), options_);
    ASSERT_TRUE(pulled.ok()) << pulled.error().what();
    std::string snapshot = pulled->image.layers[0];
    ASSERT_TRUE(service_->tag(ref(), "local/copy:1").ok());
    ASSERT_TRUE(service_->remove(ref()).ok());
    auto kept = service_->prune();
    ASSERT_TRUE(kept.ok()) << kept.error().what();
    EXPECT_EQ(kept->blobs_removed, 0u);  // still named local/copy:1
    EXPECT_TRUE(fs::exists(snapshot));
    ASSERT_TRUE(service_->remove("local/copy:1").ok());
    auto freed = service_->prune();
    ASSERT_TRUE(freed.ok()) << freed.error().what();
    EXPECT_EQ(freed->blobs_removed, 3u);  // manifest, config, layer
    EXPECT_EQ(freed->snapshots_removed, 1u);
    EXPECT_FALSE(fs::exists(snapshot));
    auto gone = service_->remove("local/copy:1");
    ASSERT_FALSE(gone.ok());
    EXPECT_NE(gone.error().message().find("local/copy:1"), std::string::npos);
}

}  // namespace
}  // namespace skiff::images
