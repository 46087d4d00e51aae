// cxx_objects: C++ new/delete, containers and exceptions under the preload.
// make_nodes() keeps 50 Node objects (48 bytes each) made with new.
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

struct Node {
    long a, b, c, d, e, f;
};

static std::vector<Node *> nodes;

__attribute__((noinline)) static void make_nodes()
{
    for (int i = 0; i < 50; i++)
        nodes.push_back(new Node{i, 0, 0, 0, 0, 0});
}

int main()
{
    make_nodes();
    std::map<std::string, std::string> m;
    for (int i = 0; i < 1000; i++)
        m["key number " + std::to_string(i)] = std::string(100, 'v');
    int caught = 0;
    for (int i = 0; i < 100; i++) {
        try {
            throw std::runtime_error("boom " + std::to_string(i));
        } catch (const std::exception &e) {
            caught++;
        }
    }
    std::thread t([] { std::vector<int> v(1000, 7); });
    t.join();
    auto *tmp = new std::string(200, 'x');
    delete tmp;
    std::printf("map=%zu caught=%d nodes=%zu\n", m.size(), caught, nodes.size());
    return 0;
}
